//! The settings model: partner-level defaults, per-connection values, and secrets.
//!
//! A connector's settings type derives `JsonSchema`; each field's level and secrecy are written into
//! the generated schema as extension keywords, so the schema alone tells a host (or a UI) what to ask
//! for and where:
//!
//! - `x-plugboard-level: "partner"`: set once for every install (e.g. an OAuth app's Client ID). A
//!   partner may leave it blank; every connection must then supply it. When the partner has set it, a
//!   connection cannot change it.
//! - `x-plugboard-level: "connection"` (the default): set per install; a partner value is a default.
//! - `x-plugboard-secret: true`: never logged, printed or handed to a connector.
//!
//! Mark fields with the transforms in this module:
//!
//! ```
//! use schemars::JsonSchema;
//! use plugboard_core::settings::{self, Level};
//!
//! #[derive(serde::Deserialize, JsonSchema)]
//! struct Settings {
//!     /// The OAuth application's client id.
//!     #[schemars(transform = settings::partner)]
//!     client_id: String,
//!     /// The OAuth application's secret.
//!     #[schemars(transform = settings::partner_secret)]
//!     client_secret: String,
//! }
//!
//! let schema = schemars::schema_for!(Settings);
//! assert_eq!(settings::field_level(&schema, "client_id"), Some(Level::Partner));
//! assert!(settings::is_secret(&schema, "client_secret"));
//! ```
//!
//! A connector reads its settings typed, as the host hands them over: without secrets
//! (invariant 2). A secret field of type [`Secret`] holds nothing and reads as absent, so the
//! settings type itself is what methods read (`cx.settings::<Settings>()`), with no second
//! "visible" struct beside it:
//!
//! ```
//! use plugboard_core::settings::{self, Secret};
//! use schemars::JsonSchema;
//!
//! #[derive(serde::Deserialize, JsonSchema)]
//! struct Settings {
//!     #[schemars(transform = settings::partner)]
//!     client_id: String,
//!     #[schemars(transform = settings::partner_secret)]
//!     client_secret: Secret,
//! }
//!
//! // What a connector is given: the secret is not there.
//! let visible = serde_json::json!({"client_id": "app-1"});
//! let read: Settings = serde_json::from_value(visible).expect("readable without the secret");
//! assert_eq!(read.client_id, "app-1");
//! // Its schema is still a required string, marked secret.
//! let schema = schemars::schema_for!(Settings);
//! assert!(settings::is_secret(&schema, "client_secret"));
//! assert_eq!(schema.get("required"), Some(&serde_json::json!(["client_id", "client_secret"])));
//! ```

use schemars::Schema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Schema keyword holding a field's [`Level`].
pub const LEVEL_KEYWORD: &str = "x-plugboard-level";
/// Schema keyword marking a field as secret.
pub const SECRET_KEYWORD: &str = "x-plugboard-secret";
/// What secret values are replaced with wherever settings are shown.
pub const REDACTED: &str = "[redacted]";

/// The type of a secret setting on the connector's side: a string in the schema, nothing in the
/// value. The host never hands a secret to a connector, so the field reads as absent (whatever
/// is or is not there), and the settings type deserializes from what the connector is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Secret;

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Accepts a missing field (as `None`), `null` or any value, and keeps none of it.
        struct Absent;
        impl<'de> serde::de::Visitor<'de> for Absent {
            type Value = Secret;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a secret setting (read as absent)")
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Secret, E> {
                Ok(Secret)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Secret, E> {
                Ok(Secret)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, value: D) -> Result<Secret, D::Error> {
                serde::de::IgnoredAny::deserialize(value).map(|_| Secret)
            }
        }
        // `deserialize_option` is also what serde calls for a missing field: a `Secret` field
        // needs no `#[serde(default)]`, so its schema stays required where it is.
        deserializer.deserialize_option(Absent)
    }
}

impl schemars::JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "String".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> Schema {
        String::json_schema(generator)
    }
}

/// Where a setting is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Once for all installs (the project or partner configuration).
    Partner,
    /// For each connection (install).
    Connection,
}

/// Schemars transform: a partner-level setting.
pub fn partner(schema: &mut Schema) {
    schema.insert(LEVEL_KEYWORD.to_owned(), Value::from("partner"));
}

/// Schemars transform: a connection-level setting (the default, for explicitness).
pub fn connection(schema: &mut Schema) {
    schema.insert(LEVEL_KEYWORD.to_owned(), Value::from("connection"));
}

/// Schemars transform: a secret setting.
pub fn secret(schema: &mut Schema) {
    schema.insert(SECRET_KEYWORD.to_owned(), Value::Bool(true));
}

/// Schemars transform: a partner-level secret (e.g. an OAuth client secret).
pub fn partner_secret(schema: &mut Schema) {
    partner(schema);
    secret(schema);
}

/// Schemars transform: a connection-level secret (e.g. a customer's API key).
pub fn connection_secret(schema: &mut Schema) {
    connection(schema);
    secret(schema);
}

fn property<'s>(schema: &'s Schema, field: &str) -> Option<&'s Value> {
    schema.get("properties")?.get(field)
}

fn properties(schema: &Schema) -> impl Iterator<Item = (&String, &Value)> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// The level of a field, or `None` when the schema has no such field.
pub fn field_level(schema: &Schema, field: &str) -> Option<Level> {
    let property = property(schema, field)?;
    Some(match property.get(LEVEL_KEYWORD).and_then(Value::as_str) {
        Some("partner") => Level::Partner,
        _ => Level::Connection,
    })
}

/// Whether a field is marked secret.
pub fn is_secret(schema: &Schema, field: &str) -> bool {
    property(schema, field)
        .and_then(|p| p.get(SECRET_KEYWORD))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The field's display title: its schema `title`, else its name.
pub fn field_title<'s>(schema: &'s Schema, field: &'s str) -> &'s str {
    property(schema, field)
        .and_then(|p| p.get("title"))
        .and_then(Value::as_str)
        .unwrap_or(field)
}

/// One field of a settings schema, as a host or UI presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    /// The field's name in the settings object.
    pub name: String,
    /// The display title.
    pub title: String,
    /// The schema description, if any.
    pub description: Option<String>,
    /// Where the field is configured.
    pub level: Level,
    /// Whether the field is secret.
    pub secret: bool,
    /// Whether a value must be present once partner and connection values are merged.
    pub required: bool,
}

/// Every top-level field of a settings schema, in schema order.
pub fn fields(schema: &Schema) -> Vec<FieldInfo> {
    let required = required_fields(schema);
    properties(schema)
        .map(|(name, property)| FieldInfo {
            name: name.clone(),
            title: field_title(schema, name).to_owned(),
            description: property
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            level: field_level(schema, name).unwrap_or(Level::Connection),
            secret: is_secret(schema, name),
            required: required.contains(&name.as_str()),
        })
        .collect()
}

fn required_fields(schema: &Schema) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// A copy of `settings` with every secret value replaced by [`REDACTED`], for display and logs.
pub fn redacted(schema: &Schema, settings: &Map<String, Value>) -> Map<String, Value> {
    settings
        .iter()
        .map(|(name, value)| {
            let shown = if is_secret(schema, name) {
                Value::from(REDACTED)
            } else {
                value.clone()
            };
            (name.clone(), shown)
        })
        .collect()
}

/// A copy of `settings` without secret fields: what a connector is allowed to see (invariant 2).
pub fn without_secrets(schema: &Schema, settings: &Map<String, Value>) -> Map<String, Value> {
    settings
        .iter()
        .filter(|(name, _)| !is_secret(schema, name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::JsonSchema;
    use serde_json::json;

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Example {
        /// Client ID
        #[schemars(title = "Client ID", transform = partner)]
        client_id: String,
        #[schemars(title = "Client Secret", transform = partner_secret)]
        client_secret: String,
        #[schemars(title = "Redirect URI")]
        redirect_uri: String,
        #[serde(default)]
        #[schemars(range(min = 1, max = 10))]
        page_size: Option<u32>,
    }

    fn schema() -> Schema {
        schemars::schema_for!(Example)
    }

    fn obj(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn levels_and_secrecy_are_in_the_schema() {
        let schema = schema();
        assert_eq!(field_level(&schema, "client_id"), Some(Level::Partner));
        assert_eq!(
            field_level(&schema, "redirect_uri"),
            Some(Level::Connection)
        );
        assert_eq!(field_level(&schema, "nope"), None);
        assert!(is_secret(&schema, "client_secret"));
        assert!(!is_secret(&schema, "client_id"));
    }

    #[test]
    fn secrets_are_redacted_and_withheld_from_connectors() {
        let schema = schema();
        let settings = obj(json!({"client_id": "app", "client_secret": "s3cret"}));
        assert_eq!(redacted(&schema, &settings)["client_secret"], REDACTED);
        assert!(!without_secrets(&schema, &settings).contains_key("client_secret"));
    }
}
