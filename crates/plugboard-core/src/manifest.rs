//! The manifest: everything the host needs to know about a connector before calling it.
//!
//! It is plain data (serde + schemars), produced by the connector and read by the host. For a plugin
//! it is the first thing read across the ABI, so it is also how the host checks a plugin makes sense
//! before running any of its methods.

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::AuthSpec;
use crate::rate_limit::RateLimit;

/// What a connector is and offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Manifest {
    /// Stable id used in workflows and on the command line, e.g. `constant-contact`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The connector's own version (semver).
    pub version: String,
    /// One paragraph for people choosing a connector.
    pub description: String,
    /// The API root that request paths are relative to; the host may point it at a sandbox.
    ///
    /// It may name settings fields in braces, filled per connection (see [`expand_base_url`]):
    /// `{base_url}` alone for a generic connector whose every connection names its API, or
    /// `https://{subdomain}.example.com/api` for a service with one host per customer.
    pub base_url: String,
    /// Extra hosts the connector may reach besides the base URL's host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// How the API authenticates.
    pub auth: AuthSpec,
    /// JSON Schema of the connector's settings, with level and secrecy keywords per field.
    pub settings_schema: Schema,
    /// Limits the API enforces; the host keeps every request under all of them.
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    /// The methods, in the order they are presented.
    pub methods: Vec<MethodDescriptor>,
    /// The method that tests a connection (a cheap, idempotent read taking `{}`), which the
    /// host runs when a connection is installed: a wrong key is reported then, not at the
    /// first run. `None`: the connector has no such test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

impl Manifest {
    /// Why the declared connection check cannot work: a method the connector lacks, or one that
    /// is not idempotent (a check may run any number of times). Checked at registration.
    pub fn check_problem(&self) -> Option<String> {
        let id = self.check.as_deref()?;
        match self.method(id) {
            None => Some(format!(
                "connector `{}` declares `{id}` as its connection check, and has no such method",
                self.id
            )),
            Some(method) if !method.idempotent => Some(format!(
                "connector `{}` declares `{id}` as its connection check, which is not idempotent",
                self.id
            )),
            Some(_) => None,
        }
    }

    /// The method with this id.
    pub fn method(&self, id: &str) -> Option<&MethodDescriptor> {
        self.methods.iter().find(|m| m.id == id)
    }

    /// The settings fields the base URL is built from (its `{field}` placeholders), in order.
    pub fn base_url_settings(&self) -> Vec<&str> {
        placeholders(&self.base_url)
            .filter_map(|part| match part {
                Part::Field(field) => Some(field),
                Part::Text(_) => None,
            })
            .collect()
    }

    /// The base URL of a connection with these (effective, non-secret) settings; see
    /// [`expand_base_url`].
    pub fn resolve_base_url(&self, settings: &Map<String, Value>) -> Result<String, BaseUrlError> {
        expand_base_url(&self.base_url, settings)
    }

    /// Method categories in order of first appearance, for grouped listings.
    pub fn categories(&self) -> Vec<&str> {
        let mut categories: Vec<&str> = Vec::new();
        for method in &self.methods {
            if !categories.contains(&method.category.as_str()) {
                categories.push(&method.category);
            }
        }
        categories
    }
}

/// What a method is, without its code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MethodDescriptor {
    /// Id unique within the connector, `category.verb` style, e.g. `contacts.create`.
    pub id: String,
    /// Display name, e.g. "Create Contact".
    pub name: String,
    /// Group shown to users, plural, e.g. "Contacts".
    pub category: String,
    /// One line saying what the method does.
    pub description: String,
    /// Whether the method acts on demand or polls for new data.
    pub kind: MethodKind,
    /// Whether the method returns one value or streams records.
    pub output: OutputShape,
    /// Whether calling the method twice with the same input has the effect of calling it once.
    pub idempotent: bool,
    /// JSON Schema of the method's input.
    pub input_schema: Schema,
    /// JSON Schema of the value the method returns.
    pub output_schema: Schema,
    /// JSON Schema of each streamed record, for methods whose output is records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_schema: Option<Schema>,
    /// Whether the method can tell, for a call whose answer was lost, whether it took effect
    /// (a contact by its email, a list by its name): invoked as
    /// [`MethodDescriptor::effect_lookup_id`] with the same input, it returns what the call
    /// would have returned, or `null` when the call had no effect. Only then may the host send a
    /// non-idempotent call again after an unknown outcome.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub finds_effect: bool,
    /// For a poll trigger: which input field takes the cursor and which output field holds the
    /// next one. The host stores the cursor between runs by these names; it never guesses them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_cursor: Option<PollCursor>,
    /// What one call costs in requests, where the method can say: lets a plan (`--dry-run`)
    /// count a stream's pages and show a cheaper way to the same records.
    #[serde(default, skip_serializing_if = "Cost::is_unstated")]
    pub cost: Cost,
}

/// A method's request cost, as far as it can be stated without running it.
///
/// Unstated, a call costs one request and a stream one per page of unknown size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Cost {
    /// A paged stream: the records each page holds (the page size the method asks for), so a
    /// stream of `n` records costs `ceil(n / records_per_page)` requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_per_page: Option<u32>,
    /// The requests of one call whatever its input and data (e.g. 1 for a download that
    /// streams the rows of one response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u32>,
    /// The call waits for a job by polling it: one request per status check, as many as the
    /// job's duration needs (each method bounds them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub polls: bool,
    /// Methods of the same connector that, called in this order, get the same records in a
    /// fixed number of requests whatever their number (a bulk export instead of paging).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instead: Vec<String>,
}

impl Cost {
    /// Whether the method states nothing about its cost.
    pub fn is_unstated(&self) -> bool {
        self == &Self::default()
    }
}

/// Where a poll trigger's cursor goes in and comes out, by top-level field name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PollCursor {
    /// The input field the stored cursor is passed in (e.g. `cursor`), when the step leaves it
    /// unset or null.
    pub input: String,
    /// The output field holding the cursor for the next poll (e.g. `next_cursor`).
    pub output: String,
}

impl MethodDescriptor {
    /// Why the declared poll cursor cannot work: a field its input or output schema lacks.
    /// Checked when a connector is registered, so a typo is found before any run.
    pub fn poll_cursor_problem(&self) -> Option<String> {
        let cursor = self.poll_cursor.as_ref()?;
        let has = |schema: &Schema, field: &str| {
            schema
                .get("properties")
                .and_then(|p| p.get(field))
                .is_some()
        };
        if !has(&self.input_schema, &cursor.input) {
            return Some(format!(
                "method `{}` declares its poll cursor in input field `{}`, which its input \
                 schema does not have",
                self.id, cursor.input
            ));
        }
        if !has(&self.output_schema, &cursor.output) {
            return Some(format!(
                "method `{}` declares its next poll cursor in output field `{}`, which its \
                 output schema does not have",
                self.id, cursor.output
            ));
        }
        None
    }

    /// Why the declared cost cannot be right: an alternative method the connector does not
    /// have. Checked when a connector is registered, with [`Self::poll_cursor_problem`].
    pub fn cost_problem(&self, methods: &[MethodDescriptor]) -> Option<String> {
        let missing = self
            .cost
            .instead
            .iter()
            .find(|id| !methods.iter().any(|m| &&m.id == id))?;
        Some(format!(
            "method `{}` names `{missing}` as a cheaper way to its records, and the connector \
             has no such method",
            self.id
        ))
    }
}

/// What a method id ends with when the host asks the method for the effect of a call instead
/// of making it (see [`MethodDescriptor::finds_effect`]).
pub const EFFECT_LOOKUP_SUFFIX: &str = "#find-effect";

impl MethodDescriptor {
    /// The id under which the host invokes this method's effect lookup.
    pub fn effect_lookup_id(&self) -> String {
        format!("{}{EFFECT_LOOKUP_SUFFIX}", self.id)
    }
}

/// How a method is meant to be used in a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    /// Called as a step; does one thing.
    Action,
    /// Called on a schedule with a cursor from the previous poll; returns what is new and the next
    /// cursor.
    PollTrigger,
}

/// The shape of a method's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputShape {
    /// One value, returned when the call completes.
    One,
    /// A stream of records emitted while the call runs (pages are never collected in memory),
    /// followed by a final value such as a count or the next cursor.
    Records,
}

/// Why a connection's settings give no usable base URL. Messages name fields, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    /// A placeholder's field has no (text) value.
    #[error("the base URL needs the setting `{field}`")]
    Missing {
        /// The field.
        field: String,
    },
    /// A value that is the whole URL's start is not an `http(s)://` URL without query,
    /// fragment or user information.
    #[error(
        "the setting `{field}` must be an http:// or https:// URL without user information, \
         query or fragment"
    )]
    NotAUrl {
        /// The field.
        field: String,
    },
    /// A value inside the URL holds characters that could change its host or path (only
    /// letters, digits and `-._~` are allowed there).
    #[error(
        "the setting `{field}` may only hold letters, digits and `-._~` where the base URL uses it"
    )]
    UnsafeValue {
        /// The field.
        field: String,
    },
    /// The template itself is malformed (an unclosed or empty `{`).
    #[error("the base URL template is malformed: {reason}")]
    Template {
        /// What is wrong.
        reason: String,
    },
}

enum Part<'a> {
    Text(&'a str),
    Field(&'a str),
}

/// Splits a template into text and `{field}` parts; a malformed brace ends the iteration with a
/// text part holding the rest (callers that must reject it use [`check_template`]).
fn placeholders(template: &str) -> impl Iterator<Item = Part<'_>> {
    let mut rest = template;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find('{') {
            Some(0) => match rest.find('}') {
                Some(end) if end > 1 => {
                    let field = &rest[1..end];
                    rest = &rest[end + 1..];
                    Some(Part::Field(field))
                }
                _ => {
                    let text = rest;
                    rest = "";
                    Some(Part::Text(text))
                }
            },
            Some(start) => {
                let text = &rest[..start];
                rest = &rest[start..];
                Some(Part::Text(text))
            }
            None => {
                let text = rest;
                rest = "";
                Some(Part::Text(text))
            }
        }
    })
}

fn check_template(template: &str) -> Result<(), BaseUrlError> {
    for part in placeholders(template) {
        let malformed = match part {
            Part::Text(text) => text.contains('{') || text.contains('}'),
            Part::Field(field) => {
                field.is_empty()
                    || !field
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            }
        };
        if malformed {
            return Err(BaseUrlError::Template {
                reason: "braces must enclose a settings field name (letters, digits, `_`, `-`)"
                    .to_owned(),
            });
        }
    }
    Ok(())
}

/// Fills a base-URL template's `{field}` placeholders from settings.
///
/// A template without braces is returned as it is. A placeholder at the very start takes a whole
/// URL prefix (`{base_url}`, `{base_url}/v2`): its value must be an `http://` or `https://` URL
/// without user information, query or fragment, and a trailing `/` is dropped. A placeholder
/// anywhere else (a subdomain, a tenant path segment) takes only letters, digits and `-._~`, and
/// not `.` or `..`, so a value can never move the URL to another host or above its path. The
/// host then confines every request to the expanded URL's origin and path, as for a fixed one.
///
/// ```
/// use plugboard_core::manifest::expand_base_url;
/// let settings = serde_json::json!({"base_url": "http://127.0.0.1:8080/api/", "tenant": "acme"});
/// let settings = settings.as_object().expect("an object");
/// assert_eq!(expand_base_url("{base_url}", settings).unwrap(), "http://127.0.0.1:8080/api");
/// assert_eq!(
///     expand_base_url("https://{tenant}.example.com/v1", settings).unwrap(),
///     "https://acme.example.com/v1"
/// );
/// assert!(expand_base_url("https://{base_url}.example.com", settings).is_err());
/// ```
pub fn expand_base_url(
    template: &str,
    settings: &Map<String, Value>,
) -> Result<String, BaseUrlError> {
    check_template(template)?;
    let mut out = String::with_capacity(template.len());
    for part in placeholders(template) {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Field(field) => {
                let value = settings
                    .get(field)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| BaseUrlError::Missing {
                        field: field.to_owned(),
                    })?;
                if out.is_empty() {
                    if !is_plain_url(value) {
                        return Err(BaseUrlError::NotAUrl {
                            field: field.to_owned(),
                        });
                    }
                    out.push_str(value.trim_end_matches('/'));
                } else {
                    let unreserved = value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
                    if !unreserved || value == "." || value == ".." {
                        return Err(BaseUrlError::UnsafeValue {
                            field: field.to_owned(),
                        });
                    }
                    out.push_str(value);
                }
            }
        }
    }
    Ok(out)
}

/// An `http(s)://` URL with a host and no user information, query, fragment, spaces or controls.
fn is_plain_url(value: &str) -> bool {
    let Some(rest) = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    !authority.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "@?#\\{}".contains(c))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn settings(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn fixed_base_urls_are_unchanged_and_name_no_settings() {
        assert_eq!(
            expand_base_url("https://api.cc.email/v3", &Map::new()),
            Ok("https://api.cc.email/v3".to_owned())
        );
        assert!(placeholders("https://api.cc.email/v3").all(|p| matches!(p, Part::Text(_))));
    }

    #[test]
    fn a_whole_url_setting_must_be_a_plain_http_url() {
        let ok = settings(json!({"base_url": "https://api.example.com/v2/"}));
        assert_eq!(
            expand_base_url("{base_url}", &ok),
            Ok("https://api.example.com/v2".to_owned())
        );
        assert_eq!(
            expand_base_url("{base_url}/items", &ok),
            Ok("https://api.example.com/v2/items".to_owned())
        );
        for bad in [
            "ftp://x",
            "https://",
            "https://user:pw@evil.com",
            "https://api.example.com/v2?key=1",
            "https://api.example.com/#x",
            "api.example.com",
            "https://a b.com",
        ] {
            let outcome = expand_base_url("{base_url}", &settings(json!({"base_url": bad})));
            assert_eq!(
                outcome,
                Err(BaseUrlError::NotAUrl {
                    field: "base_url".into()
                }),
                "{bad}"
            );
        }
        assert_eq!(
            expand_base_url("{base_url}", &Map::new()),
            Err(BaseUrlError::Missing {
                field: "base_url".into()
            })
        );
    }

    #[test]
    fn an_embedded_value_cannot_change_the_host_or_climb_the_path() {
        let template = "https://{shop}.example.com/api/{tenant}";
        let ok = settings(json!({"shop": "acme-1", "tenant": "t_2"}));
        assert_eq!(
            expand_base_url(template, &ok),
            Ok("https://acme-1.example.com/api/t_2".to_owned())
        );
        for bad in ["evil.com/", "evil.com?", "a@b", "..", "x:1", ""] {
            let outcome = expand_base_url(template, &settings(json!({"shop": bad, "tenant": "t"})));
            assert!(outcome.is_err(), "{bad}: {outcome:?}");
            if !bad.is_empty() {
                let message = outcome.expect_err("refused").to_string();
                assert!(!message.contains(bad), "the value is not echoed: {message}");
            }
        }
    }

    #[test]
    fn malformed_templates_are_refused() {
        for template in [
            "https://{/x",
            "https://{}/x",
            "https://x}/y",
            "https://{a b}/",
        ] {
            assert!(
                matches!(
                    expand_base_url(template, &settings(json!({"a b": "x"}))),
                    Err(BaseUrlError::Template { .. })
                ),
                "{template}"
            );
        }
    }

    #[test]
    fn the_manifest_names_its_base_url_settings() {
        let manifest: Manifest = serde_json::from_value(json!({
            "id": "t", "name": "T", "version": "0", "description": "",
            "base_url": "https://{shop}.example.com/{region}",
            "auth": {"type": "none"}, "settings_schema": {}, "methods": []
        }))
        .expect("a manifest");
        assert_eq!(manifest.base_url_settings(), vec!["shop", "region"]);
        assert_eq!(
            manifest.resolve_base_url(&settings(json!({"shop": "s", "region": "eu"}))),
            Ok("https://s.example.com/eu".to_owned())
        );
    }
}
