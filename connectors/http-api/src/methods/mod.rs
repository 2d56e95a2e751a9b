//! The connector's methods and what they share: query values, header rules, response shaping
//! and error mapping (the REST toolkit's, with the body as the error's detail).

pub mod list;
pub mod request;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use plugboard_core::http::forbidden_request_header;
use plugboard_core::rest::{ErrorDetails, ErrorMapping};
use plugboard_core::{ConnectorError, HttpRequest, HttpResponse};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(test)]
use crate::settings::AuthType;
use crate::settings::Settings;

/// Errors of an API the connector knows nothing about: the body (bounded) is the detail, 401 is
/// `Unauthorized`, 429 `RateLimited` for as long as `Retry-After` says.
pub(crate) static ERRORS: LazyLock<ErrorMapping> =
    LazyLock::new(|| ErrorMapping::new(ErrorDetails::Body).reading_retry_after());

/// One query-parameter value as a workflow writes it: text, a number, a boolean, or a list of
/// them (the parameter is repeated). `null` leaves the parameter out.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum QueryValue {
    /// One value, or `null` for none.
    One(Option<Scalar>),
    /// The parameter repeated once per value, in order.
    Many(Vec<Scalar>),
}

/// A single query-parameter value.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    /// Sent as it is.
    Text(String),
    /// Sent in JSON notation (`2`, `1.5`).
    Number(serde_json::Number),
    /// Sent as `true` or `false`.
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Number(number) => number.to_string(),
            Self::Bool(flag) => flag.to_string(),
        }
    }
}

/// Adds the caller's query parameters and headers to `request`, refusing any that would carry or
/// replace credentials (invariant 2) or that route or frame the request
/// ([`forbidden_request_header`]): a workflow must not be able to send the connection's
/// credentials to another host behind a shared front end. Checked here, before any request, so
/// the error is the workflow's `InvalidInput` rather than the host's refusal.
pub(crate) fn with_query_and_headers(
    mut request: HttpRequest,
    query: &BTreeMap<String, QueryValue>,
    headers: &BTreeMap<String, String>,
    settings: &Settings,
) -> Result<HttpRequest, ConnectorError> {
    let credential_param = settings.credential_param();
    for (name, value) in query {
        if credential_param.as_deref() == Some(name.as_str()) {
            return Err(ConnectorError::InvalidInput {
                message: format!(
                    "the query parameter `{name}` carries the connection's API key; the host adds it"
                ),
            });
        }
        match value {
            QueryValue::One(None) => {}
            QueryValue::One(Some(one)) => request = request.query(name.as_str(), one.text()),
            QueryValue::Many(many) => {
                for one in many {
                    request = request.query(name.as_str(), one.text());
                }
            }
        }
    }
    let credential_header = settings.credential_header();
    for (name, value) in headers {
        let reason = forbidden_request_header(name).or_else(|| {
            credential_header
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(name))
                .then_some("it carries the connection's API key; the host sets it")
        });
        if let Some(reason) = reason {
            return Err(ConnectorError::InvalidInput {
                message: format!("a workflow cannot set the header `{name}`: {reason}"),
            });
        }
        request = request.header(name.as_str(), value.as_str());
    }
    Ok(request)
}

/// The body as JSON when it parses, else as text; an empty body is `null`.
pub(crate) fn body_value(response: &HttpResponse) -> Value {
    if response.body.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&response.body).unwrap_or_else(|_| Value::String(response.body.clone()))
}

/// Response headers as an object; repeated headers are joined with `, ` (RFC 9110 5.3).
pub(crate) fn header_map(response: &HttpResponse) -> BTreeMap<String, String> {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &response.headers {
        headers
            .entry(name.to_ascii_lowercase())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    headers
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn query_values_of_every_shape_and_credential_names_are_refused() {
        let query: BTreeMap<String, QueryValue> = serde_json::from_value(json!({
            "a": "x", "b": 2, "c": true, "d": ["1", 2], "e": null
        }))
        .expect("query");
        let visible = Settings {
            auth_type: AuthType::ApiKeyQuery,
            api_key_name: Some("token".into()),
            ..Settings::default()
        };
        let request =
            with_query_and_headers(HttpRequest::get("/x"), &query, &BTreeMap::new(), &visible)
                .expect("allowed");
        let pairs: Vec<(&str, &str)> = request
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a", "x"),
                ("b", "2"),
                ("c", "true"),
                ("d", "1"),
                ("d", "2")
            ]
        );
        let token = BTreeMap::from([("token".to_owned(), QueryValue::One(None))]);
        assert!(
            with_query_and_headers(HttpRequest::get("/x"), &token, &BTreeMap::new(), &visible)
                .is_err()
        );
        for header in [
            "Authorization",
            "proxy-authorization",
            "Host",
            "X-Forwarded-Host",
            "forwarded",
            "Transfer-Encoding",
            "content-length",
        ] {
            let headers = BTreeMap::from([(header.to_owned(), "x".to_owned())]);
            assert!(
                with_query_and_headers(
                    HttpRequest::get("/x"),
                    &BTreeMap::new(),
                    &headers,
                    &Settings::default()
                )
                .is_err(),
                "{header}"
            );
        }
        let header_key = Settings {
            auth_type: AuthType::ApiKeyHeader,
            ..Settings::default()
        };
        let headers = BTreeMap::from([("x-api-key".to_owned(), "x".to_owned())]);
        assert!(
            with_query_and_headers(
                HttpRequest::get("/x"),
                &BTreeMap::new(),
                &headers,
                &header_key
            )
            .is_err()
        );
    }

    #[test]
    fn errors_keep_the_body_and_type_the_status() {
        let response = HttpResponse {
            status: 422,
            headers: vec![],
            body: r#"{"message":"bad field"}"#.into(),
        };
        assert_eq!(
            ERRORS.error(&response),
            ConnectorError::Api {
                status: 422,
                errors: vec![plugboard_core::ApiErrorDetail {
                    key: "body".into(),
                    message: r#"{"message":"bad field"}"#.into()
                }]
            }
        );
        let throttled = HttpResponse {
            status: 429,
            headers: vec![("retry-after".into(), "3".into())],
            body: String::new(),
        };
        assert_eq!(
            ERRORS.error(&throttled),
            ConnectorError::RateLimited {
                retry_after_ms: Some(3000)
            }
        );
        let refused = HttpResponse {
            status: 401,
            headers: vec![],
            body: "who are you".into(),
        };
        assert_eq!(
            ERRORS.error(&refused),
            ConnectorError::Unauthorized {
                message: "HTTP 401: who are you".into()
            }
        );
    }

    #[test]
    fn bodies_are_json_text_or_null_and_headers_join() {
        let mut response = HttpResponse::json(200, &json!({"a": 1}));
        assert_eq!(body_value(&response), json!({"a": 1}));
        response.body = "plain".into();
        assert_eq!(body_value(&response), json!("plain"));
        response.body = " ".into();
        assert_eq!(body_value(&response), Value::Null);
        response.headers = vec![
            ("Set-Thing".into(), "a".into()),
            ("set-thing".into(), "b".into()),
        ];
        assert_eq!(header_map(&response)["set-thing"], "a, b");
    }
}
