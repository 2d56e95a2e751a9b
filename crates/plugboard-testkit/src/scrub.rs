//! Removing secrets from cassettes before they are written.
//!
//! A connector's requests never carry credentials (the host injects them), but responses,
//! settings and error messages may. A [`Scrubber`] replaces, everywhere in a cassette, with the
//! fixed marker [`SCRUBBED`]:
//!
//! - every known secret value, wherever it appears inside a string: the values of secret settings
//!   ([`Scrubber::secret_settings`]), tokens, anything added with [`Scrubber::secret`];
//! - the value of every sensitive header (`Authorization`, `Cookie`, `Set-Cookie`, ...);
//! - the value of every token-looking field (`access_token`, `refresh_token`, `id_token`,
//!   `client_secret`, ...) in JSON bodies, form bodies and query strings, at any depth; such values
//!   are also learned as secrets, so a token that shows up again elsewhere is caught too.
//!
//! A replaying host treats a request value that is exactly [`SCRUBBED`] as matching anything, so a
//! scrubbed cassette still replays.

use schemars::Schema;
use serde_json::Value;

use crate::KitError;
use crate::cassette::{Cassette, Interaction};

/// What scrubbed values are replaced with.
pub const SCRUBBED: &str = "[scrubbed]";

/// Header names whose values are always scrubbed (compared case-insensitively).
pub const SENSITIVE_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
];

/// JSON field and query parameter names whose values are always scrubbed.
pub const SENSITIVE_FIELDS: [&str; 6] = [
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "api_key",
    "password",
];

/// Secrets shorter than this are only scrubbed where they are a whole value; inside longer text
/// they would match too much by chance.
const MIN_SUBSTRING_SECRET: usize = 6;

/// Scrubs secrets out of cassettes; see the module docs. Its `Debug` shows counts, never values.
#[derive(Clone)]
pub struct Scrubber {
    secrets: Vec<String>,
    headers: Vec<String>,
    fields: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber")
            .field("secrets", &self.secrets.len())
            .field("headers", &self.headers)
            .field("fields", &self.fields)
            .finish()
    }
}

impl Default for Scrubber {
    fn default() -> Self {
        Self::new()
    }
}

impl Scrubber {
    /// A scrubber with the default header and field rules and no known secret values yet.
    pub fn new() -> Self {
        Self {
            secrets: Vec::new(),
            headers: SENSITIVE_HEADERS.map(str::to_owned).to_vec(),
            fields: SENSITIVE_FIELDS.map(str::to_owned).to_vec(),
        }
    }

    /// Adds a secret value to scrub wherever it appears (blank values are ignored).
    #[must_use]
    pub fn secret(mut self, value: impl Into<String>) -> Self {
        self.add_secret(value);
        self
    }

    /// Adds a secret value in place; see [`Scrubber::secret`].
    pub fn add_secret(&mut self, value: impl Into<String>) {
        let value = value.into();
        if !value.trim().is_empty() && !self.secrets.contains(&value) {
            self.secrets.push(value);
        }
    }

    /// Adds the value of every field that `schema` marks secret (`x-plugboard-secret`).
    #[must_use]
    pub fn secret_settings(
        mut self,
        schema: &Schema,
        settings: &serde_json::Map<String, Value>,
    ) -> Self {
        for field in plugboard_core::settings::fields(schema) {
            if !field.secret {
                continue;
            }
            match settings.get(&field.name) {
                Some(Value::String(text)) => self.add_secret(text.clone()),
                Some(Value::Null) | None => {}
                Some(other) => self.add_secret(other.to_string()),
            }
        }
        self
    }

    /// Also scrubs the values of this header.
    #[must_use]
    pub fn header(mut self, name: &str) -> Self {
        self.headers.push(name.to_ascii_lowercase());
        self
    }

    /// Also scrubs the values of this JSON field or query parameter.
    #[must_use]
    pub fn field(mut self, name: &str) -> Self {
        self.fields.push(name.to_ascii_lowercase());
        self
    }

    /// How many secret values the scrubber knows.
    pub fn secret_count(&self) -> usize {
        self.secrets.len()
    }

    /// Whether `text` contains a known secret (for tests that check scrubbed output).
    pub fn leaks(&self, text: &str) -> bool {
        self.secrets
            .iter()
            .any(|secret| text.contains(secret.as_str()))
    }

    /// A scrubbed copy of a cassette. Token-looking values found anywhere in it are learned first,
    /// so each is replaced everywhere.
    pub fn scrub(&self, cassette: &Cassette) -> Result<Cassette, KitError> {
        let mut values = cassette
            .interactions
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<Value>, _>>()
            .map_err(|e| KitError::Format {
                path: None,
                message: format!("cannot encode an interaction: {e}"),
            })?;
        let mut learned = self.clone();
        for value in &values {
            learned.learn(value);
        }
        // Longest first, so a secret that contains another is replaced whole.
        learned
            .secrets
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        for value in &mut values {
            learned.apply(value);
        }
        let interactions = values
            .into_iter()
            .map(serde_json::from_value::<Interaction>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| KitError::Format {
                path: None,
                message: format!("a scrubbed interaction no longer parses: {e}"),
            })?;
        Ok(Cassette {
            interactions,
            ..cassette.clone()
        })
    }

    /// Scrubs one piece of text: known secrets, and sensitive query parameters in URLs.
    pub fn scrub_text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out == *secret {
                return SCRUBBED.to_owned();
            }
            if secret.len() >= MIN_SUBSTRING_SECRET && out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), SCRUBBED);
            }
        }
        self.scrub_query_params(&out)
    }

    fn is_field(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.eq_ignore_ascii_case(name))
    }

    fn is_header(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    fn is_sensitive_name(&self, name: &str) -> bool {
        self.is_field(name) || self.is_header(name)
    }

    /// Collects the values of sensitive fields, pairs and query parameters as secrets.
    fn learn(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    if self.is_field(key)
                        && let Value::String(text) = item
                    {
                        self.add_secret(text.clone());
                    }
                    self.learn(item);
                }
            }
            Value::Array(items) => {
                if let [Value::String(name), Value::String(text)] = items.as_slice()
                    && self.is_sensitive_name(name)
                {
                    self.add_secret(text.clone());
                }
                for item in items {
                    self.learn(item);
                }
            }
            Value::String(text) => {
                for (name, secret) in query_params(text) {
                    if self.is_field(name) {
                        self.add_secret(secret.to_owned());
                    }
                }
                // A JSON document inside a string (a text body, an error message).
                if (text.starts_with('{') || text.starts_with('['))
                    && let Ok(inner) = serde_json::from_str::<Value>(text)
                {
                    self.learn(&inner);
                }
            }
            _ => {}
        }
    }

    fn apply(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    if self.is_field(key) && !item.is_null() {
                        *item = Value::from(SCRUBBED);
                    } else {
                        self.apply(item);
                    }
                }
            }
            Value::Array(items) => {
                if let [Value::String(name), second] = items.as_mut_slice()
                    && self.is_sensitive_name(name)
                {
                    *second = Value::from(SCRUBBED);
                    return;
                }
                for item in items {
                    self.apply(item);
                }
            }
            Value::String(text) => *text = self.scrub_text(text),
            _ => {}
        }
    }

    /// Replaces the values of sensitive parameters in anything shaped like a query string.
    fn scrub_query_params(&self, text: &str) -> String {
        let sensitive: Vec<(&str, &str)> = query_params(text)
            .into_iter()
            .filter(|(name, value)| self.is_field(name) && *value != SCRUBBED && !value.is_empty())
            .collect();
        let mut out = text.to_owned();
        for (name, value) in sensitive {
            out = out.replace(&format!("{name}={value}"), &format!("{name}={SCRUBBED}"));
        }
        out
    }
}

/// The `name=value` pairs after a `?` or `&` in `text` (URLs, paths, form bodies).
fn query_params(text: &str) -> Vec<(&str, &str)> {
    let query = match text.split_once('?') {
        Some((_, query)) => query,
        None if text.contains('=') && !text.contains(' ') => text,
        None => return Vec::new(),
    };
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| {
            let end = value.find(['#', '"', '\'', ' ']).unwrap_or(value.len());
            (name, &value[..end])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Outcome, RecordedResponse};
    use plugboard_core::{HttpRequest, HttpResponse};
    use serde_json::json;

    fn cassette_with(request: HttpRequest, response: HttpResponse) -> Cassette {
        let mut cassette = Cassette::new("scrub");
        cassette.interactions.push(Interaction {
            waited_ms: Vec::new(),
            request,
            outcome: Outcome::Response(RecordedResponse {
                headers: response.headers.clone(),
                ..RecordedResponse::from_response(&response)
            }),
        });
        cassette
    }

    #[test]
    fn tokens_headers_and_known_secrets_are_replaced_everywhere() {
        let request = HttpRequest::get("/v3/things?access_token=tok-in-path-123&page=2")
            .query("key", "the-client-secret-value")
            .header("Authorization", "Bearer abc.def.ghi");
        let response = HttpResponse {
            status: 200,
            headers: vec![("set-cookie".into(), "session=s3cr3t-cookie".into())],
            body: json!({
                "nested": {"refresh_token": "rt-999999", "keep": "visible"},
                "echo": "token rt-999999 again; secret the-client-secret-value"
            })
            .to_string(),
        };
        let scrubber = Scrubber::new().secret("the-client-secret-value");
        let scrubbed = scrubber
            .scrub(&cassette_with(request, response))
            .expect("scrubs");
        let text = scrubbed.to_json().expect("serializable");
        for leak in [
            "tok-in-path-123",
            "the-client-secret-value",
            "abc.def.ghi",
            "s3cr3t-cookie",
            "rt-999999",
        ] {
            assert!(!text.contains(leak), "{leak} leaked:\n{text}");
        }
        assert!(text.contains("visible"), "{text}");
        assert!(text.contains("page=2"), "{text}");
        let request = &scrubbed.interactions[0].request;
        assert_eq!(request.query[0].1, SCRUBBED);
        assert_eq!(request.headers[0].1, SCRUBBED);
    }

    #[test]
    fn secret_settings_come_from_the_schema() {
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Settings {
            #[schemars(transform = plugboard_core::settings::partner)]
            client_id: String,
            #[schemars(transform = plugboard_core::settings::partner_secret)]
            client_secret: String,
        }
        let schema = schemars::schema_for!(Settings);
        let settings = json!({"client_id": "public-id", "client_secret": "very-secret"});
        let scrubber =
            Scrubber::new().secret_settings(&schema, settings.as_object().expect("an object"));
        assert_eq!(scrubber.secret_count(), 1);
        assert!(scrubber.leaks("x very-secret y"));
        assert!(!scrubber.leaks("public-id"));
        assert_eq!(scrubber.scrub_text("very-secret"), SCRUBBED);
    }

    #[test]
    fn short_secrets_are_only_scrubbed_as_whole_values() {
        let scrubber = Scrubber::new().secret("abc");
        assert_eq!(scrubber.scrub_text("abc"), SCRUBBED);
        assert_eq!(scrubber.scrub_text("abcdef"), "abcdef");
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let scrubber = Scrubber::new().secret("hunter2-hunter2");
        assert!(!format!("{scrubber:?}").contains("hunter2"));
    }
}
