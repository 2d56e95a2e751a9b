//! Cassettes: recorded request/response pairs in readable, deterministic JSON files.
//!
//! A cassette is what a [`RecordingHost`](crate::RecordingHost) saw and what a
//! [`ReplayHost`](crate::ReplayHost) answers from. The file is pretty JSON with a stable layout
//! (struct fields in declaration order, response headers sorted, volatile headers such as `date`
//! dropped), so re-recording the same exchanges writes the same bytes and a review shows only what
//! really changed. JSON response bodies are stored as JSON (not as an escaped string) so people can
//! read them.

use std::path::{Path, PathBuf};

use plugboard_core::{ConnectorError, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::KitError;

/// The cassette file format's version; a reader refuses files of another version.
pub const FORMAT_VERSION: u32 = 1;

/// Response headers that change on every recording and that no connector should depend on; they
/// are left out of cassettes so re-recording is deterministic.
pub const VOLATILE_HEADERS: [&str; 6] = [
    "date",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "x-request-id",
];

/// A named, ordered list of recorded exchanges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cassette {
    /// The file format's version ([`FORMAT_VERSION`]).
    #[serde(rename = "plugboard_cassette")]
    pub format: u32,
    /// What the cassette covers, e.g. `sign_up_form_create_then_update`; named in replay errors.
    pub name: String,
    /// The day the cassette was recorded (`YYYY-MM-DD`, UTC), when known: the one line of a
    /// cassette that depends on when it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<String>,
    /// The exchanges, in the order they happened.
    pub interactions: Vec<Interaction>,
}

impl Cassette {
    /// Every recorded wait, in order: what a replay's [`FakeClock`](crate::FakeClock) should see
    /// when the connector waits as it did while recording.
    pub fn waits(&self) -> Vec<std::time::Duration> {
        self.interactions
            .iter()
            .flat_map(|i| i.waited_ms.iter())
            .map(|ms| std::time::Duration::from_millis(*ms))
            .collect()
    }
}

/// One request and what the host answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// The waits (in milliseconds) the connector asked for since the previous request, e.g. the
    /// pauses between polls of a bulk job. For readers and for tests comparing replayed waits;
    /// replay does not match on them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waited_ms: Vec<u64>,
    /// The request exactly as the connector described it (it never carries credentials).
    pub request: HttpRequest,
    /// The answer.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What a request got: a response (any status) or an error without a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An HTTP response, error statuses included.
    Response(RecordedResponse),
    /// No response: the host's error (timeout, transport, quota...).
    Error(ConnectorError),
}

/// An [`HttpResponse`] in its readable, recorded form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedResponse {
    /// The HTTP status.
    pub status: u16,
    /// Headers, lower-case names, sorted, volatile ones left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// The body when it is JSON, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// The body when it is not JSON (and not empty), as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Interaction {
    /// An exchange as a host's `send` saw it.
    pub fn new(request: HttpRequest, result: Result<HttpResponse, ConnectorError>) -> Self {
        Self {
            waited_ms: Vec::new(),
            request,
            outcome: Outcome::from_result(&result),
        }
    }
}

impl RecordedResponse {
    /// The recorded form of a response: JSON bodies parsed, headers normalized.
    pub fn from_response(response: &HttpResponse) -> Self {
        let mut headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
            .filter(|(name, _)| !VOLATILE_HEADERS.contains(&name.as_str()))
            .collect();
        headers.sort();
        let (json, text) = if response.body.is_empty() {
            (None, None)
        } else {
            match serde_json::from_str::<Value>(&response.body) {
                Ok(value) => (Some(value), None),
                Err(_) => (None, Some(response.body.clone())),
            }
        };
        Self {
            status: response.status,
            headers,
            json,
            text,
        }
    }

    /// The response a replaying host hands back.
    pub fn to_response(&self) -> HttpResponse {
        let body = match (&self.json, &self.text) {
            (Some(json), _) => json.to_string(),
            (None, Some(text)) => text.clone(),
            (None, None) => String::new(),
        };
        HttpResponse {
            status: self.status,
            headers: self.headers.clone(),
            body,
        }
    }
}

impl Outcome {
    /// The recorded form of what a host's `send` returned.
    pub fn from_result(result: &Result<HttpResponse, ConnectorError>) -> Self {
        match result {
            Ok(response) => Self::Response(RecordedResponse::from_response(response)),
            Err(error) => Self::Error(error.clone()),
        }
    }

    /// What a replaying host's `send` returns.
    pub fn to_result(&self) -> Result<HttpResponse, ConnectorError> {
        match self {
            Self::Response(response) => Ok(response.to_response()),
            Self::Error(error) => Err(error.clone()),
        }
    }
}

impl Cassette {
    /// An empty cassette.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            format: FORMAT_VERSION,
            name: name.into(),
            recorded_at: None,
            interactions: Vec::new(),
        }
    }

    /// Reads a cassette file; the error names the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KitError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KitError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text).map_err(|error| match error {
            KitError::Format { message, .. } => KitError::Format {
                path: Some(path.to_owned()),
                message,
            },
            other => other,
        })
    }

    /// Parses a cassette from its JSON text.
    pub fn from_json(text: &str) -> Result<Self, KitError> {
        let cassette: Self = serde_json::from_str(text).map_err(|e| KitError::Format {
            path: None,
            message: e.to_string(),
        })?;
        if cassette.format != FORMAT_VERSION {
            return Err(KitError::Format {
                path: None,
                message: format!(
                    "cassette format {} is not supported (this kit reads format {FORMAT_VERSION})",
                    cassette.format
                ),
            });
        }
        Ok(cassette)
    }

    /// The cassette as pretty JSON with a final newline: the exact bytes [`Cassette::save`] writes.
    pub fn to_json(&self) -> Result<String, KitError> {
        let value = serde_json::to_value(self).map_err(|e| KitError::Format {
            path: None,
            message: e.to_string(),
        })?;
        let mut text = String::new();
        write_pretty(&mut text, &value, 0);
        text.push('\n');
        Ok(text)
    }

    /// Writes the cassette (creating its directory); callers scrub it first, as
    /// [`RecordingHost::cassette`](crate::RecordingHost::cassette) does.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<PathBuf, KitError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| KitError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        std::fs::write(path, self.to_json()?).map_err(|source| KitError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(path.to_owned())
    }
}

/// Arrays of scalars no longer than this (on one line) are written on one line: header and query
/// pairs read as `["limit", "500"]` instead of taking four lines each.
const INLINE_ARRAY_WIDTH: usize = 80;

/// Pretty JSON, two-space indents, with short arrays of scalars on one line.
fn write_pretty(out: &mut String, value: &Value, indent: usize) {
    let pad = |out: &mut String, level: usize| out.push_str(&"  ".repeat(level));
    match value {
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            if items
                .iter()
                .all(|item| !item.is_array() && !item.is_object())
            {
                let parts: Vec<String> = items.iter().map(Value::to_string).collect();
                let line = format!("[{}]", parts.join(", "));
                if line.len() <= INLINE_ARRAY_WIDTH {
                    out.push_str(&line);
                    return;
                }
            }
            out.push_str("[\n");
            for (index, item) in items.iter().enumerate() {
                pad(out, indent + 1);
                write_pretty(out, item, indent + 1);
                if index + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(out, indent);
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("{\n");
            for (index, (key, item)) in map.iter().enumerate() {
                pad(out, indent + 1);
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push_str(": ");
                write_pretty(out, item, indent + 1);
                if index + 1 < map.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(out, indent);
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Today's date in UTC as `YYYY-MM-DD`, for [`Cassette::recorded_at`].
pub fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let days = i64::try_from(secs / 86_400).unwrap_or_default();
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn responses_keep_json_as_json_and_drop_volatile_headers() {
        let response = HttpResponse {
            status: 200,
            headers: vec![
                ("date".into(), "Thu, 26 Nov 2026 17:00:00 GMT".into()),
                ("Content-Type".into(), "application/json".into()),
                ("content-length".into(), "12".into()),
            ],
            body: r#"{"b":1,"a":[true]}"#.into(),
        };
        let recorded = RecordedResponse::from_response(&response);
        assert_eq!(
            recorded.headers,
            vec![("content-type".to_owned(), "application/json".to_owned())]
        );
        assert_eq!(recorded.json, Some(json!({"b": 1, "a": [true]})));
        let back = recorded.to_response();
        assert_eq!(back.body, r#"{"b":1,"a":[true]}"#);
        assert_eq!(back.status, 200);
    }

    #[test]
    fn a_cassette_round_trips_through_its_file_format() {
        let mut cassette = Cassette::new("round_trip");
        cassette.interactions.push(Interaction::new(
            HttpRequest::get("/things").query("limit", 2),
            Ok(HttpResponse::json(200, &json!({"things": []}))),
        ));
        let mut slow = Interaction::new(HttpRequest::get("/slow"), Err(ConnectorError::Timeout));
        slow.waited_ms = vec![1000, 2000];
        cassette.interactions.push(slow);
        let text = cassette.to_json().expect("serializable");
        assert!(text.contains("\"plugboard_cassette\": 1"), "{text}");
        assert!(text.contains("\"error\": {"), "{text}");
        assert!(text.contains("\"waited_ms\": [1000, 2000]"), "{text}");
        assert!(
            text.contains("\n          [\"limit\", \"2\"]\n"),
            "pairs on one line: {text}"
        );
        assert_eq!(Cassette::from_json(&text).expect("parses"), cassette);
    }

    #[test]
    fn other_format_versions_are_refused() {
        let error =
            Cassette::from_json(r#"{"plugboard_cassette": 9, "name": "x", "interactions": []}"#)
                .expect_err("refused");
        assert!(error.to_string().contains("format 9"), "{error}");
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_783), (2026, 11, 26));
        assert_eq!(today_utc().len(), 10);
    }
}
