//! Resolving a connection's settings: partner defaults merged with the connection's values and
//! validated against the connector's settings schema.
//!
//! This is host work: it needs a JSON Schema validator, which `plugboard-core` (linked into every
//! plugin) does not carry. The schema keywords it reads (levels, secrecy, titles) are defined in
//! [`plugboard_core::settings`].

use plugboard_core::settings::{Level, field_level, field_title, fields};
use schemars::Schema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Whether a value counts as "not given": partner forms leave fields as `null` or empty text.
fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// One thing wrong with a settings object, located by JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsProblem {
    /// JSON pointer of the offending field in the merged settings, e.g. `/client_id`.
    pub pointer: String,
    /// What is wrong, in plain English.
    pub message: String,
}

/// Every problem found in a settings object, reported together so a user fixes them in one pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("invalid settings:{}", render_problems(problems))]
pub struct SettingsError {
    /// The problems, in field order.
    pub problems: Vec<SettingsProblem>,
}

fn render_problems(problems: &[SettingsProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("\n  {}: {}", display_pointer(&p.pointer), p.message))
        .collect()
}

fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() {
        "(root)"
    } else {
        pointer
    }
}

/// Merges partner and connection settings and validates the result against `schema`.
///
/// Returns the effective settings, or every problem at once: unknown fields, partner-level fields a
/// connection tries to change, required fields left blank at both levels, and schema violations,
/// each with its JSON pointer. Messages never contain the values themselves, so a secret typed into
/// the wrong field does not leak into an error.
///
/// ```
/// use plugboard_core::settings;
/// use plugboard_runner::settings::resolve;
/// use serde_json::{Map, Value, json};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Settings {
///     /// The OAuth application's client id.
///     #[schemars(title = "Client ID", transform = settings::partner)]
///     client_id: String,
///     /// The customer's account.
///     #[schemars(title = "Account", transform = settings::connection)]
///     account: String,
/// }
///
/// let schema = schemars::schema_for!(Settings);
/// let object = |value: Value| value.as_object().cloned().expect("an object");
///
/// // The partner sets the client id once; each connection names its account.
/// let partner = object(json!({"client_id": "app-1"}));
/// let merged = resolve(&schema, &partner, &object(json!({"account": "a-9"})))?;
/// assert_eq!(Value::Object(merged), json!({"client_id": "app-1", "account": "a-9"}));
///
/// // A connection cannot change a partner value, and every problem is reported at once.
/// let error = resolve(&schema, &partner, &object(json!({"client_id": "mine", "colour": 1})))
///     .expect_err("invalid");
/// let pointers: Vec<&str> = error.problems.iter().map(|p| p.pointer.as_str()).collect();
/// assert_eq!(pointers, ["/account", "/client_id", "/colour"]);
/// assert!(!error.to_string().contains("mine"), "values are never repeated");
///
/// // Left blank by the partner, a partner-level field must come from the connection.
/// let blank = object(json!({"client_id": ""}));
/// let merged = resolve(&schema, &blank, &object(json!({"client_id": "own", "account": "a-9"})))?;
/// assert_eq!(merged["client_id"], "own");
/// # Ok::<(), plugboard_runner::settings::SettingsError>(())
/// ```
pub fn resolve(
    schema: &Schema,
    partner: &Map<String, Value>,
    connection: &Map<String, Value>,
) -> Result<Map<String, Value>, SettingsError> {
    let mut problems = Vec::new();
    let mut merged = Map::new();

    for (level_name, values) in [("partner", partner), ("connection", connection)] {
        for name in values.keys() {
            if field_level(schema, name).is_none() {
                problems.push(SettingsProblem {
                    pointer: pointer_to(name),
                    message: format!(
                        "`{name}` is not a setting of this connector (given in the {level_name} settings)"
                    ),
                });
            }
        }
    }

    for field in fields(schema) {
        let name = &field.name;
        let given_by_partner = partner.get(name).filter(|v| !is_blank(v));
        let given_by_connection = connection.get(name).filter(|v| !is_blank(v));
        let level = field_level(schema, name).unwrap_or(Level::Connection);
        let chosen = match (level, given_by_partner, given_by_connection) {
            (Level::Partner, Some(p), Some(c)) if p != c => {
                problems.push(SettingsProblem {
                    pointer: pointer_to(name),
                    message: format!(
                        "{} is set at partner level; a connection cannot change it",
                        field_title(schema, name)
                    ),
                });
                Some(p)
            }
            (Level::Partner, Some(p), _) => Some(p),
            (_, _, Some(c)) => Some(c),
            (Level::Connection, Some(p), None) => Some(p),
            (_, None, None) => None,
        };
        if let Some(value) = chosen {
            merged.insert(name.clone(), value.clone());
        }
    }

    for field in fields(schema).iter().filter(|f| f.required) {
        let name = field.name.as_str();
        if !merged.contains_key(name) {
            let title = field_title(schema, name);
            let message = match field_level(schema, name) {
                Some(Level::Partner) => format!(
                    "{title} is required: it is blank at partner level, so this connection must supply it"
                ),
                _ => format!("{title} is required for this connection"),
            };
            problems.push(SettingsProblem {
                pointer: pointer_to(name),
                message,
            });
        }
    }

    problems.extend(schema_problems(schema, &merged));
    if problems.is_empty() {
        Ok(merged)
    } else {
        problems.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        problems.dedup();
        Err(SettingsError { problems })
    }
}

/// Schema violations of the merged object, except missing fields (reported with better words above).
fn schema_problems(schema: &Schema, merged: &Map<String, Value>) -> Vec<SettingsProblem> {
    let validator = match jsonschema::validator_for(schema.as_value()) {
        Ok(validator) => validator,
        Err(error) => {
            return vec![SettingsProblem {
                pointer: String::new(),
                message: format!("the connector's settings schema is invalid: {error}"),
            }];
        }
    };
    let instance = Value::Object(merged.clone());
    validator
        .iter_errors(&instance)
        .filter(|error| {
            !matches!(
                error.kind(),
                jsonschema::error::ValidationErrorKind::Required { .. }
                    | jsonschema::error::ValidationErrorKind::AdditionalProperties { .. }
            )
        })
        .map(|error| {
            let pointer = error.instance_path().as_str().to_owned();
            let field = pointer.trim_start_matches('/');
            SettingsProblem {
                message: format!("{}: {}", field_title(schema, field), error.masked()),
                pointer,
            }
        })
        .collect()
}

fn pointer_to(field: &str) -> String {
    format!("/{}", field.replace('~', "~0").replace('/', "~1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugboard_core::settings;
    use schemars::JsonSchema;
    use serde_json::json;

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Example {
        /// Client ID
        #[schemars(title = "Client ID", transform = settings::partner)]
        client_id: String,
        #[schemars(title = "Client Secret", transform = settings::partner_secret)]
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
    fn partner_values_apply_to_every_connection() {
        let merged = resolve(
            &schema(),
            &obj(json!({"client_id": "app", "client_secret": "s3cret"})),
            &obj(json!({"redirect_uri": "http://127.0.0.1/cb"})),
        )
        .expect("valid");
        assert_eq!(merged["client_id"], "app");
        assert_eq!(merged["redirect_uri"], "http://127.0.0.1/cb");
    }

    #[test]
    fn blank_partner_values_must_come_from_the_connection() {
        let error = resolve(
            &schema(),
            &obj(json!({"client_id": "", "client_secret": null})),
            &obj(json!({"redirect_uri": "http://127.0.0.1/cb"})),
        )
        .expect_err("missing client credentials");
        let pointers: Vec<&str> = error.problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(pointers, ["/client_id", "/client_secret"]);
        assert!(
            error.problems[0]
                .message
                .contains("Client ID is required: it is blank at partner level"),
            "{error}"
        );

        let merged = resolve(
            &schema(),
            &obj(json!({"client_id": ""})),
            &obj(json!({"client_id": "own-app", "client_secret": "x", "redirect_uri": "u"})),
        )
        .expect("connection supplies them");
        assert_eq!(merged["client_id"], "own-app");
    }

    #[test]
    fn every_problem_is_reported_at_once_without_values() {
        let error = resolve(
            &schema(),
            &obj(json!({"client_id": "app", "colour": "red"})),
            &obj(json!({"client_id": "other", "page_size": 99, "client_secret": "hunter2"})),
        )
        .expect_err("several problems");
        let pointers: Vec<&str> = error.problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/client_id", "/colour", "/page_size", "/redirect_uri"]
        );
        let text = error.to_string();
        assert!(text.contains("cannot change it"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("99"), "values must not be echoed: {text}");
    }
}
