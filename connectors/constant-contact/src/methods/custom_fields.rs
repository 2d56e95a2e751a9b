//! Custom fields: account-defined contact fields.

use plugboard_core::rest::{Streamed, segment};
use plugboard_core::{ConnectorError, Context, HttpRequest, Result, input, method, output};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Deleted;
use crate::api::API;

/// The largest page `GET /contact_custom_fields` serves.
const PAGE_SIZE: u32 = 100;

/// How a custom field's values are shown and checked, as the API returns it.
#[output]
pub struct CustomFieldMetadata {
    /// How a select field is rendered, e.g. `radio`, `checkbox` or `dropdown`.
    pub display_type: Option<String>,
    /// For `number`: whether values may be negative.
    pub allow_negative: Option<bool>,
    /// For `number` and `currency`: digits after the decimal point.
    pub decimal_places: Option<i64>,
    /// For `currency`: the three-letter currency code.
    pub currency_code: Option<String>,
    /// For `number` and `currency`: whole numbers only.
    pub integer: Option<bool>,
    /// For version 2 `date` fields: how dates are shown, e.g. `YYYY-MM-DD`.
    pub display_format: Option<String>,
}

/// How a new custom field's values are shown and checked; which keys apply depends on its type.
// Unknown keys are tolerated (and dropped), as when this type served responses too.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct CustomFieldMetadataInput {
    /// How a select field is rendered, e.g. `radio`, `checkbox` or `dropdown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_type: Option<String>,
    /// For `number`: whether values may be negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_negative: Option<bool>,
    /// For `number` and `currency`: digits after the decimal point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimal_places: Option<u32>,
    /// For `currency`: the three-letter currency code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
    /// For `number` and `currency`: whole numbers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integer: Option<bool>,
    /// For version 2 `date` fields: how dates are shown, e.g. `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_format: Option<String>,
}

/// One choice of a select field, as the API returns it.
#[output]
pub struct CustomFieldChoice {
    /// Unique id of the choice within its field.
    pub choice_id: Option<i64>,
    /// The label shown for the choice.
    pub choice_label: Option<String>,
    /// Where the choice is shown in the list of choices.
    pub display_order: Option<i64>,
}

/// A custom field.
#[output]
pub struct CustomField {
    /// Unique id of the custom field.
    pub custom_field_id: String,
    /// The label shown in the UI.
    pub label: String,
    /// The name derived from the label; the JSON import's `cf:<name>` key.
    pub name: Option<String>,
    /// The type of data it holds, e.g. `string`, `date`, `number`, `currency`, `boolean`,
    /// `single_select`, `multi_select`.
    #[serde(rename = "type")]
    pub field_type: String,
    /// Type-specific settings.
    pub metadata: Option<CustomFieldMetadata>,
    /// For dates: 1 for legacy text dates, 2 for real dates.
    pub version: Option<i64>,
    /// The choices of a select field.
    pub choices: Option<Vec<CustomFieldChoice>>,
    /// When the field was created (ISO-8601).
    pub created_at: Option<String>,
    /// When the field last changed (ISO-8601).
    pub updated_at: Option<String>,
}

/// Input of `custom_fields.list` (none).
#[input]
#[derive(Default)]
pub struct ListInput {}

/// Streams every custom field of the account, following the API's pages.
#[method(
    id = "custom_fields.list",
    name = "List Custom Fields",
    idempotent,
    cost(per_page = PAGE_SIZE)
)]
pub fn list(cx: &mut Context<'_, CustomField>, _input: ListInput) -> Result<Streamed> {
    let first = HttpRequest::get("/contact_custom_fields").query("limit", PAGE_SIZE);
    API.stream(cx, first, "custom_fields")
}

/// A choice of a new select field.
#[input]
#[derive(Clone)]
pub struct NewChoice {
    /// The label shown for the choice (up to 255 characters).
    #[schemars(length(max = 255))]
    pub choice_label: String,
    /// Where the choice is shown in the list of choices.
    pub display_order: Option<i64>,
}

/// Input of `custom_fields.create`.
#[input]
pub struct CreateInput {
    /// The label shown in the UI (up to 50 characters); the field's name is derived from it.
    #[schemars(length(min = 1, max = 50))]
    pub label: String,
    /// The type of data it holds, e.g. `string`, `date`, `number`, `currency`, `boolean`,
    /// `single_select`, `multi_select`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 20))]
    pub field_type: String,
    /// Type-specific settings.
    pub metadata: Option<CustomFieldMetadataInput>,
    /// The choices of a select field (up to 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub choices: Vec<NewChoice>,
    /// For dates: 2 stores real dates (comparable), 1 legacy text dates.
    pub version: Option<i64>,
}

/// The limits the spec states in words: "If the `integer` is set to `false`, the
/// `decimal_places` must be between 1 and 4", and "Maximum number of elements for `checkbox`
/// and `radio` display types is 20" (100 for a dropdown, which the schema says).
fn check_create(input: &CreateInput) -> Result<()> {
    let invalid = |message: String| Err(ConnectorError::InvalidInput { message });
    let metadata = input.metadata.clone().unwrap_or_default();
    if metadata.integer == Some(false)
        && let Some(places) = metadata.decimal_places
        && !(1..=4).contains(&places)
    {
        return invalid(format!(
            "`metadata.decimal_places` is {places}; with `integer` false it must be 1 to 4"
        ));
    }
    let few_choices = matches!(metadata.display_type.as_deref(), Some("checkbox" | "radio"));
    if few_choices && input.choices.len() > MAX_CHECKBOX_OR_RADIO_CHOICES {
        return invalid(format!(
            "`choices` has {} choices; a checkbox or radio field takes at most \
             {MAX_CHECKBOX_OR_RADIO_CHOICES}",
            input.choices.len()
        ));
    }
    Ok(())
}

/// How many choices a `checkbox` or `radio` select field may have.
const MAX_CHECKBOX_OR_RADIO_CHOICES: usize = 20;

/// Creates a custom field (an account has at most 100); fails with `already_exists` when the
/// label is taken.
#[method(id = "custom_fields.create", name = "Create Custom Field")]
pub fn create(cx: &mut Context<'_>, input: CreateInput) -> Result<CustomField> {
    check_create(&input)?;
    let what = format!("a custom field labelled `{}`", input.label);
    API.create(
        cx,
        HttpRequest::post("/contact_custom_fields").json(&input)?,
        &what,
    )
}

/// A choice of a select field to keep, change or add; the update lists every choice the field
/// keeps.
#[input]
#[derive(Clone)]
pub struct ChoiceUpdate {
    /// The id of an existing choice; leave it out to add a choice.
    pub choice_id: Option<i64>,
    /// The label shown for the choice (up to 255 characters).
    #[schemars(length(max = 255))]
    pub choice_label: String,
    /// Where the choice is shown in the list of choices.
    pub display_order: Option<i64>,
}

/// Input of `custom_fields.update`: the field as it should be afterwards. The API's PUT replaces
/// the field, and "any properties omitted in the PUT request are overwritten with a null value",
/// so there is nothing optional to leave unchanged: the label is required, and the choices are
/// the whole list.
#[input]
pub struct UpdateInput {
    /// The custom field's id.
    #[serde(skip_serializing)]
    pub custom_field_id: String,
    /// The label (up to 50 characters), even when it does not change: a PUT without one would
    /// clear it.
    #[schemars(length(min = 1, max = 50))]
    pub label: String,
    /// For select fields, every choice the field keeps or gains (up to 100): existing ones with
    /// their `choice_id`, new ones without. Choices not listed are removed; leave it empty only for
    /// fields without choices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub choices: Vec<ChoiceUpdate>,
}

fn field_path(custom_field_id: &str) -> Result<String> {
    let id = segment("custom_field_id", custom_field_id)?;
    Ok(format!("/contact_custom_fields/{id}"))
}

/// Replaces a custom field's label and, for select fields, its whole list of choices (PUT): give
/// the label even if unchanged, and every choice to keep; choices left out are removed.
#[method(id = "custom_fields.update", name = "Replace Custom Field", idempotent)]
pub fn update(cx: &mut Context<'_>, input: UpdateInput) -> Result<CustomField> {
    let request = HttpRequest::put(field_path(&input.custom_field_id)?).json(&input)?;
    API.call(cx, request)
}

/// Input of `custom_fields.get` and `custom_fields.delete`.
#[input]
pub struct IdInput {
    /// The custom field's id.
    pub custom_field_id: String,
}

/// Deletes a custom field and its value on every contact.
#[method(id = "custom_fields.delete", name = "Delete Custom Field", idempotent)]
pub fn delete(cx: &mut Context<'_>, input: IdInput) -> Result<Deleted> {
    API.send(cx, HttpRequest::delete(field_path(&input.custom_field_id)?))?;
    Ok(Deleted {
        id: input.custom_field_id,
    })
}

/// Gets one custom field by id, with its choices.
#[method(id = "custom_fields.get", name = "Get Custom Field", idempotent)]
pub fn get(cx: &mut Context<'_>, input: IdInput) -> Result<CustomField> {
    API.call(cx, HttpRequest::get(field_path(&input.custom_field_id)?))
}
