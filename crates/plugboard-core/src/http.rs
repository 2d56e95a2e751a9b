//! HTTP request and response messages exchanged between a connector and its host.
//!
//! A connector describes the request it wants; the host sends it (invariant 1: connectors do no
//! I/O). The messages are plain data, serializable as JSON, so they cross the plugin boundary as
//! they are and can be snapshotted in tests.

use std::fmt;
use std::io::Read;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ConnectorError;

/// The HTTP verbs connectors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// Read a resource.
    Get,
    /// Create a resource or start an action.
    Post,
    /// Replace a resource.
    Put,
    /// Change part of a resource.
    Patch,
    /// Remove a resource.
    Delete,
}

impl HttpMethod {
    /// Whether HTTP itself promises that repeating the request has no further effect.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Self::Post | Self::Patch)
    }

    /// The method's name as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

impl std::fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the host attaches the connection's credentials to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestAuth {
    /// Authenticate as the manifest's auth spec says (the usual case).
    #[default]
    Default,
    /// Send without credentials (public endpoints).
    None,
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum RequestBody {
    /// A JSON document, sent as `application/json`.
    Json(serde_json::Value),
    /// URL-encoded form fields, sent as `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
    /// Text with an explicit content type (e.g. CSV).
    Text {
        /// The `Content-Type` to send.
        content_type: String,
        /// The body itself.
        text: String,
    },
    /// `multipart/form-data`: fields and files (a file upload); the host writes the boundary.
    Multipart(Vec<FormPart>),
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FormPart {
    /// The form field's name.
    pub name: String,
    /// The file name, for a file part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The part's `Content-Type` (e.g. `text/csv`); none: plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The part's content.
    pub content: PartContent,
}

/// A part's content: text as it is, other bytes in base64, since requests cross the plugin
/// boundary (and are kept in cassettes) as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "encoding", content = "data", rename_all = "snake_case")]
pub enum PartContent {
    /// UTF-8 text.
    Text(String),
    /// Any bytes, base64-encoded (standard alphabet, padded).
    Base64(String),
}

impl FormPart {
    /// A plain form field.
    pub fn field(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            filename: None,
            content_type: None,
            content: PartContent::Text(value.into()),
        }
    }

    /// A file part of text (a CSV file, say).
    pub fn text_file(
        name: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            filename: Some(filename.into()),
            content_type: Some(content_type.into()),
            content: PartContent::Text(text.into()),
        }
    }

    /// A file part of any bytes.
    pub fn file(
        name: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        bytes: &[u8],
    ) -> Self {
        use base64::Engine as _;
        Self {
            name: name.into(),
            filename: Some(filename.into()),
            content_type: Some(content_type.into()),
            content: PartContent::Base64(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }
}

impl PartContent {
    /// The bytes to send; an invalid base64 text is an error naming the problem.
    pub fn bytes(&self) -> Result<Vec<u8>, ConnectorError> {
        use base64::Engine as _;
        match self {
            Self::Text(text) => Ok(text.as_bytes().to_vec()),
            Self::Base64(data) => base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| {
                    ConnectorError::plugin(format!("a multipart part is not base64: {e}"))
                }),
        }
    }
}

/// A request a connector asks its host to send.
///
/// The path is relative to the connector's base URL (or absolute on the same host, as APIs' "next
/// page" links often are), so the host can point a connector at a sandbox and enforce its allow-list.
///
/// Build one with a verb constructor and chain the rest:
///
/// ```
/// use plugboard_core::{HttpMethod, HttpRequest, RequestAuth, RequestBody};
/// use serde_json::json;
///
/// let list = HttpRequest::get("/contacts")
///     .query("limit", 500)
///     .query_opt("status", Some("active"))
///     .query_opt::<&str>("cursor", None)
///     .header("Accept", "application/json");
/// assert_eq!(list.method, HttpMethod::Get);
/// assert_eq!(list.query, [("limit".to_owned(), "500".to_owned()), ("status".to_owned(), "active".to_owned())]);
/// assert!(list.idempotent, "GET is idempotent");
/// assert_eq!(list.auth, RequestAuth::Default, "the host adds the credentials");
///
/// // A POST is not retried after a failure that may have reached the server, unless marked.
/// let search = HttpRequest::post("/contacts/search")
///     .json(&json!({"email": "ada@example.com"}))?
///     .idempotent(true);
/// assert_eq!(search.body, Some(RequestBody::Json(json!({"email": "ada@example.com"}))));
/// assert!(search.idempotent);
/// assert!(!HttpRequest::post("/contacts").idempotent);
/// # Ok::<(), plugboard_core::ConnectorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HttpRequest {
    /// The HTTP verb.
    pub method: HttpMethod,
    /// Path relative to the base URL, starting with `/`. It may carry a query string of its own
    /// (an API's next-page link), which the host sends as it is, before the `query` pairs.
    pub path: String,
    /// Query parameters in order; repeated names are allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
    /// Extra headers. Credentials are never set here: the host injects them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<RequestBody>,
    /// Whether to attach the connection's credentials.
    #[serde(default)]
    pub auth: RequestAuth,
    /// Whether the host may retry this request after a failure that may have reached the server.
    pub idempotent: bool,
}

impl HttpRequest {
    /// A request with no query, headers or body; idempotent unless the verb says otherwise.
    pub fn new(method: HttpMethod, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            auth: RequestAuth::Default,
            idempotent: method.is_idempotent(),
        }
    }

    /// A `GET` request.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(HttpMethod::Get, path)
    }

    /// A `POST` request.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(HttpMethod::Post, path)
    }

    /// A `PUT` request.
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(HttpMethod::Put, path)
    }

    /// A `PATCH` request.
    pub fn patch(path: impl Into<String>) -> Self {
        Self::new(HttpMethod::Patch, path)
    }

    /// A `DELETE` request.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(HttpMethod::Delete, path)
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.query.push((name.into(), value.to_string()));
        self
    }

    /// Adds a query parameter when `value` is present, so optional filters read as one line.
    pub fn query_opt<V: ToString>(self, name: &str, value: Option<V>) -> Self {
        match value {
            Some(value) => self.query(name, value),
            None => self,
        }
    }

    /// Adds every field of `fields` (a struct, usually the method's input) as a query parameter,
    /// in declaration order: text as it is, numbers and `true` as JSON writes them, enums by
    /// their serde names, lists joined with commas (`status=active,unsubscribed`). `null`, `false`
    /// and empty lists are left out, which leaves the API's defaults in place. Fields that belong
    /// elsewhere (a path segment) are marked `#[serde(skip_serializing)]`.
    ///
    /// ```
    /// use plugboard_core::HttpRequest;
    ///
    /// #[derive(serde::Serialize)]
    /// #[serde(rename_all = "snake_case")]
    /// enum Status { Active, TempHold }
    ///
    /// #[derive(serde::Serialize)]
    /// struct Filters { status: Vec<Status>, email: Option<String>, include_count: bool, limit: u32 }
    ///
    /// let filters = Filters { status: vec![Status::Active, Status::TempHold], email: None, include_count: false, limit: 50 };
    /// let request = HttpRequest::get("/contacts").query_from(&filters)?;
    /// assert_eq!(request.query, [
    ///     ("status".to_owned(), "active,temp_hold".to_owned()),
    ///     ("limit".to_owned(), "50".to_owned()),
    /// ]);
    /// # Ok::<(), plugboard_core::ConnectorError>(())
    /// ```
    pub fn query_from<T: Serialize>(mut self, fields: &T) -> Result<Self, ConnectorError> {
        let invalid = |message: String| ConnectorError::InvalidInput { message };
        let value = serde_json::to_value(fields)
            .map_err(|e| invalid(format!("cannot encode query parameters: {e}")))?;
        let serde_json::Value::Object(fields) = value else {
            return Err(invalid("query parameters come from a struct".to_owned()));
        };
        let text = |name: &str, value: &serde_json::Value| match value {
            serde_json::Value::String(text) => Ok(text.clone()),
            serde_json::Value::Number(number) => Ok(number.to_string()),
            serde_json::Value::Bool(flag) => Ok(flag.to_string()),
            _ => Err(invalid(format!(
                "`{name}` cannot be a query parameter: it is not text, a number or a boolean"
            ))),
        };
        for (name, value) in fields {
            let joined = match &value {
                serde_json::Value::Null | serde_json::Value::Bool(false) => continue,
                serde_json::Value::Array(items) if items.is_empty() => continue,
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|item| text(&name, item))
                    .collect::<Result<Vec<_>, _>>()?
                    .join(","),
                other => text(&name, other)?,
            };
            self.query.push((name, joined));
        }
        Ok(self)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a JSON body from any serializable value.
    pub fn json<T: Serialize>(mut self, body: &T) -> Result<Self, ConnectorError> {
        let value = serde_json::to_value(body).map_err(|e| ConnectorError::InvalidInput {
            message: format!("cannot encode the request body as JSON: {e}"),
        })?;
        self.body = Some(RequestBody::Json(value));
        Ok(self)
    }

    /// Sets a JSON body already built as a value, without copying it (a bulk body of many
    /// records is costly to copy).
    pub fn json_value(mut self, body: serde_json::Value) -> Self {
        self.body = Some(RequestBody::Json(body));
        self
    }

    /// Sets a `multipart/form-data` body (see [`FormPart`]).
    pub fn multipart(mut self, parts: Vec<FormPart>) -> Self {
        self.body = Some(RequestBody::Multipart(parts));
        self
    }

    /// Marks the request as safe (or unsafe) to retry, overriding the verb's default.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

/// Why a request header is the host's alone, or `None` when a connector (or a workflow, through
/// a generic connector) may set it. Names compare case-insensitively.
///
/// Refused: `Host` and the headers front ends and proxies route or attribute requests by
/// (`Forwarded`, any `X-Forwarded-*`, `X-Real-IP`, `X-Host`, `X-Original-Host`,
/// `X-Original-URL`, `X-Rewrite-URL`), since behind a shared front end they send the request,
/// with the credential the host attaches, to another tenant; the hop-by-hop headers of RFC 9110
/// 7.6.1 (and the old `Proxy-Connection`), which belong to the connection the host manages;
/// `Content-Length`, which the host computes from the body (a wrong one desynchronizes the
/// connection); and `Authorization`, which the host sets from the connection. `Cookie` is
/// allowed: the host never puts anything of its own there, and cookie sessions are legitimate.
/// The header a connection's API key goes in depends on the connection, so callers check it
/// themselves.
pub fn forbidden_request_header(name: &str) -> Option<&'static str> {
    const ROUTING: &str = "front ends and proxies route requests by it, so it could send the \
        request and its credentials to another host";
    let is = |forbidden: &str| name.eq_ignore_ascii_case(forbidden);
    if is("host") {
        Some("it names the host the request is for; the host sets it from the base URL")
    } else if name
        .get(.."x-forwarded-".len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("x-forwarded-"))
        || [
            "forwarded",
            "x-real-ip",
            "x-host",
            "x-original-host",
            "x-original-url",
            "x-rewrite-url",
        ]
        .into_iter()
        .any(is)
    {
        Some(ROUTING)
    } else if [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ]
    .into_iter()
    .any(is)
    {
        Some("it is hop-by-hop: it controls the connection, which the host manages")
    } else if is("content-length") {
        Some("it frames the message; the host computes it from the body")
    } else if is("authorization") {
        Some("it carries credentials; the host sets it from the connection")
    } else {
        None
    }
}

/// The host's answer to an [`HttpRequest`] that reached the server.
///
/// Error statuses arrive here too, so the connector can turn the API's error body into a typed
/// error; the host only answers with an `Err` when it has no response to give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Response headers, names in lower case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// The body as text (invalid UTF-8 is replaced).
    #[serde(default)]
    pub body: String,
}

impl HttpResponse {
    /// A response with a JSON body, mostly for tests and fakes.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Decodes the body as JSON into `T`, naming the path of the first mismatch.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_str(&self.body).map_err(|e| {
            ConnectorError::unexpected_response(format_args!(
                "HTTP {} body does not match the expected shape: {e}",
                self.status
            ))
        })
    }
}

/// The most of a streamed response's body [`StreamedResponse::read_whole`] keeps: enough for any
/// error document, and a bound on what a misbehaving server can make the connector hold.
pub const MAX_READ_WHOLE_BYTES: usize = 1024 * 1024;

/// A response whose body is read as it arrives, as bytes: a download of any size (a CSV export,
/// a file) in bounded memory, and without the lossy text decoding of [`HttpResponse::body`].
///
/// A host that cannot stream (a plugin host, a test host) hands the whole body over at once
/// through the same interface (see [`crate::Host::send_streamed`]).
pub struct StreamedResponse<'a> {
    /// The HTTP status code.
    pub status: u16,
    /// Response headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, read on demand; reading it may wait for the network. An error reading it
    /// carries a [`ConnectorError`] (see [`body_error`]).
    pub body: Box<dyn Read + 'a>,
}

impl fmt::Debug for StreamedResponse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamedResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl<'a> StreamedResponse<'a> {
    /// A whole response served as a stream (for hosts that cannot stream).
    pub fn whole(response: HttpResponse) -> Self {
        Self {
            status: response.status,
            headers: response.headers,
            body: Box::new(std::io::Cursor::new(response.body.into_bytes())),
        }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Reads the body (at most [`MAX_READ_WHOLE_BYTES`]; the rest is left unread) into an
    /// [`HttpResponse`]: for an error answer, whose document the connector maps as usual.
    pub fn read_whole(self) -> Result<HttpResponse, ConnectorError> {
        let mut bytes = Vec::new();
        self.body
            .take(MAX_READ_WHOLE_BYTES as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| body_error(&e))?;
        Ok(HttpResponse {
            status: self.status,
            headers: self.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// The [`ConnectorError`] an error from reading a streamed body stands for: the host's own when
/// it put one there (cancellation, a lost connection), else a transport error.
pub fn body_error(error: &std::io::Error) -> ConnectorError {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ConnectorError>())
        .cloned()
        .unwrap_or_else(|| ConnectorError::Transport {
            message: format!("the response body could not be read: {error}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_response_streams_and_an_error_document_reads_back_bounded() {
        let mut streamed =
            StreamedResponse::whole(HttpResponse::json(200, &serde_json::json!([1])));
        let mut text = String::new();
        streamed.body.read_to_string(&mut text).expect("readable");
        assert_eq!(text, "[1]");

        let huge = "x".repeat(MAX_READ_WHOLE_BYTES + 10);
        let failed = StreamedResponse::whole(HttpResponse {
            status: 500,
            headers: Vec::new(),
            body: huge,
        });
        assert!(!failed.is_success());
        let read = failed.read_whole().expect("readable");
        assert_eq!(read.body.len(), MAX_READ_WHOLE_BYTES);

        let cancelled = std::io::Error::other(ConnectorError::Cancelled);
        assert_eq!(body_error(&cancelled), ConnectorError::Cancelled);
        let other = body_error(&std::io::Error::other("reset"));
        assert!(
            matches!(other, ConnectorError::Transport { .. }),
            "{other:?}"
        );
    }

    #[test]
    fn multipart_parts_cross_as_json_and_give_their_bytes_back() {
        let request = HttpRequest::post("/upload").multipart(vec![
            FormPart::field("list_ids", "a,b"),
            FormPart::text_file(
                "file",
                "contacts.csv",
                "text/csv",
                "email\nada@example.com\n",
            ),
            FormPart::file(
                "logo",
                "logo.png",
                "image/png",
                &[0x89, b'P', b'N', b'G', 0, 255],
            ),
        ]);
        let json = serde_json::to_value(&request).expect("serializable");
        assert_eq!(json["body"]["type"], "multipart");
        assert_eq!(json["body"]["value"][2]["content"]["encoding"], "base64");
        let back: HttpRequest = serde_json::from_value(json).expect("deserializable");
        assert_eq!(back, request);
        let Some(RequestBody::Multipart(parts)) = &back.body else {
            panic!("a multipart body");
        };
        assert_eq!(
            parts[2].content.bytes(),
            Ok(vec![0x89, b'P', b'N', b'G', 0, 255])
        );
        assert_eq!(
            parts[1].content.bytes(),
            Ok(b"email\nada@example.com\n".to_vec())
        );
        let broken = PartContent::Base64("not base64!".into());
        assert!(matches!(broken.bytes(), Err(ConnectorError::Plugin { .. })));
    }

    #[test]
    fn builders_follow_http_idempotency_by_default() {
        assert!(HttpRequest::get("/x").idempotent);
        assert!(HttpRequest::put("/x").idempotent);
        assert!(!HttpRequest::post("/x").idempotent);
        assert!(HttpRequest::post("/x").idempotent(true).idempotent);
    }

    #[test]
    fn optional_query_parameters_are_skipped_when_absent() {
        let request = HttpRequest::get("/contacts")
            .query_opt("status", Some("all"))
            .query_opt::<u32>("limit", None);
        assert_eq!(request.query, vec![("status".into(), "all".into())]);
    }

    #[test]
    fn host_owned_request_headers_are_named_whatever_their_case() {
        for name in [
            "Host",
            "HOST",
            "X-Forwarded-Host",
            "x-forwarded-anything",
            "Forwarded",
            "Connection",
            "keep-alive",
            "Proxy-Authenticate",
            "Proxy-Authorization",
            "TE",
            "Trailer",
            "Transfer-Encoding",
            "Upgrade",
            "Content-Length",
            "authorization",
        ] {
            assert!(forbidden_request_header(name).is_some(), "{name}");
        }
        for name in [
            "Accept",
            "Content-Type",
            "Cookie",
            "X-Source",
            "X-Forwarded",
            "Hostname",
            "x-api-key",
            "é",
        ] {
            assert_eq!(forbidden_request_header(name), None, "{name}");
        }
    }

    #[test]
    fn query_fields_refuse_nested_objects() {
        #[derive(Serialize)]
        struct Nested {
            inner: std::collections::BTreeMap<&'static str, u8>,
        }
        let nested = Nested {
            inner: [("a", 1)].into(),
        };
        assert!(matches!(
            HttpRequest::get("/x").query_from(&nested),
            Err(ConnectorError::InvalidInput { .. })
        ));
        assert!(HttpRequest::get("/x").query_from(&3).is_err());
    }

    #[test]
    fn header_lookup_ignores_case() {
        let response = HttpResponse {
            status: 429,
            headers: vec![("retry-after".into(), "2".into())],
            body: String::new(),
        };
        assert_eq!(response.header("Retry-After"), Some("2"));
    }
}
