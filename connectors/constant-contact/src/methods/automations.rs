//! Automations: email workflows a trigger starts for each contact (joining a list, a birthday,
//! a purchase…). Their definitions are the API's own nested documents, passed through as JSON.

use plugboard_core::rest::{Streamed, segment};
use plugboard_core::{Context, HttpRequest, Result, choice, input, method, output};
use serde_json::{Map, Value};

use crate::api::API;

/// An automation workflow as the list shows it.
#[output]
pub struct AutomationSummary {
    /// The workflow's id.
    pub id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its status, e.g. `DRAFT` or `ACTIVE`.
    pub status: Option<String>,
}

/// Orders of the automation list.
#[choice]
#[serde(rename_all = "UPPERCASE")]
pub enum SortDirection {
    /// Oldest first.
    Asc,
    /// Newest first (the API's default).
    Desc,
}

/// How a workflow was made.
#[choice]
#[serde(rename_all = "UPPERCASE")]
pub enum CreatedFrom {
    /// From scratch.
    Scratch,
    /// From a template.
    Template,
}

/// Input of `automations.list`.
#[input]
#[derive(Default)]
pub struct ListInput {
    /// Only workflows of this channel, e.g. `email`.
    pub channel: Option<String>,
    /// The order.
    pub sort_direction: Option<SortDirection>,
    /// Only workflows made this way.
    pub created_from: Option<CreatedFrom>,
    /// Only workflows with these goal tags, e.g. `post_purchase_followup`.
    pub goals: Option<String>,
    /// Only the workflow of exactly this name.
    pub name: Option<String>,
}

/// Streams the account's automation workflows.
#[method(id = "automations.list", name = "List Automations", idempotent)]
pub fn list(cx: &mut Context<'_, AutomationSummary>, input: ListInput) -> Result<Streamed> {
    let first = HttpRequest::get("/automations/workflows").query_from(&input)?;
    API.stream(cx, first, "flow_summaries")
}

/// An automation workflow with its definitions.
#[output]
pub struct Automation {
    /// The workflow's id.
    pub id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its status, e.g. `DRAFT` or `ACTIVE`.
    pub status: Option<String>,
    /// Tags describing its goals.
    pub structured_tags: Vec<Value>,
    /// The definition that runs, once activated: its state, trigger and workflow.
    pub active_definition: Option<Value>,
    /// The definition being edited.
    pub draft_definition: Option<Value>,
    /// Whether the name was given rather than generated.
    pub name_explicitly_set: Option<bool>,
}

/// Input of `automations.get`.
#[input]
pub struct GetInput {
    /// The workflow's id.
    pub automation_flow_id: String,
}

fn flow_path(id: &str) -> Result<String> {
    Ok(format!(
        "/automations/workflows/{}",
        segment("automation_flow_id", id)?
    ))
}

/// Gets one automation workflow with its definitions.
#[method(id = "automations.get", name = "Get Automation", idempotent)]
pub fn get(cx: &mut Context<'_>, input: GetInput) -> Result<Automation> {
    API.call(cx, HttpRequest::get(flow_path(&input.automation_flow_id)?))
}

/// Input of `automations.create`: the trigger that starts the workflow for a contact.
#[input]
pub struct CreateInput {
    /// The workflow's name; the API makes one up when it is left out.
    #[serde(skip_serializing)]
    pub workflow_name: Option<String>,
    /// What starts the workflow, e.g. `contact_list` or `date_based` (the API's trigger types).
    #[serde(rename = "type")]
    #[schemars(length(min = 1))]
    pub trigger_type: String,
    /// The trigger's action, e.g. `contact_joined_list`.
    pub action_name: Option<String>,
    /// The trigger's parameters (e.g. which lists), as the API takes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Value>,
    /// For date triggers: which contact date (e.g. the birthday fields).
    pub trigger_date: Option<Map<String, Value>>,
    /// For date triggers: how long before or after the date.
    pub bounds: Option<Map<String, Value>>,
    /// Only contacts at this engagement level.
    pub engagement_level: Option<String>,
    /// Only contacts of this segment.
    pub segment_id: Option<String>,
    /// How often a contact may enter, e.g. once per contact.
    pub unique_by: Option<String>,
}

/// Creates a draft automation workflow from its trigger.
#[method(id = "automations.create", name = "Create Automation")]
pub fn create(cx: &mut Context<'_>, input: CreateInput) -> Result<Automation> {
    let request = HttpRequest::post("/automations/workflows")
        .query_opt("workflowName", input.workflow_name.clone())
        .json(&input)?;
    API.create(cx, request, "this automation")
}

/// Input of `automations.update`.
#[input]
pub struct UpdateInput {
    /// The workflow's id.
    pub automation_flow_id: String,
    /// The workflow as `automations.get` returned it, with the changes made (name, description,
    /// tags, definitions).
    pub automation_flow: Map<String, Value>,
}

/// Replaces an automation workflow's name, description, tags and definitions.
#[method(id = "automations.update", name = "Update Automation", idempotent)]
pub fn update(cx: &mut Context<'_>, input: UpdateInput) -> Result<Automation> {
    let body = serde_json::json!({"automation_flow": input.automation_flow});
    let request = HttpRequest::put(flow_path(&input.automation_flow_id)?).json(&body)?;
    API.call(cx, request)
}
