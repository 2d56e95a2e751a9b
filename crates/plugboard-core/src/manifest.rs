//! The manifest: everything the host needs to know about a connector before calling it.
//!
//! It is plain data (serde + schemars), produced by the connector and read by the host. For a plugin
//! it is the first thing read across the ABI, so it is also how the host checks a plugin makes sense
//! before running any of its methods.

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};

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
}

impl Manifest {
    /// The method with this id.
    pub fn method(&self, id: &str) -> Option<&MethodDescriptor> {
        self.methods.iter().find(|m| m.id == id)
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
