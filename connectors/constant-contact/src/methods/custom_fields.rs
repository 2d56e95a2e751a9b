//! Custom fields: account-defined contact fields.

use plugboard_core::{
    ConnectorError, Context, HttpRequest, LogLevel, Method, MethodInfo, MethodKind, NoRecords,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Deleted;
use crate::errors::{check, check_create};
use crate::pagination::{Pages, PagingLinks};
use crate::paths::segment;

/// The largest page `GET /contact_custom_fields` serves.
const PAGE_SIZE: u32 = 100;

/// How a custom field's values are shown and checked; which keys apply depends on its type.
// Shared by requests and responses, so unknown keys are tolerated (and dropped).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct CustomFieldMetadata {
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
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CustomFieldChoice {
    /// Unique id of the choice within its field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_id: Option<i64>,
    /// The label shown for the choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_label: Option<String>,
    /// Where the choice is shown in the list of choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i64>,
}

/// A custom field.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CustomField {
    /// Unique id of the custom field.
    pub custom_field_id: String,
    /// The label shown in the UI.
    pub label: String,
    /// The name derived from the label; the JSON import's `cf:<name>` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The type of data it holds, e.g. `string`, `date`, `number`, `currency`, `boolean`,
    /// `single_select`, `multi_select`.
    #[serde(rename = "type")]
    pub field_type: String,
    /// Type-specific settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<CustomFieldMetadata>,
    /// For dates: 1 for legacy text dates, 2 for real dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The choices of a select field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<CustomFieldChoice>>,
    /// When the field was created (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the field last changed (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// Input of `custom_fields.list` (none).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    custom_fields: Vec<CustomField>,
    #[serde(default, rename = "_links")]
    links: PagingLinks,
}

/// What `custom_fields.list` returns once every custom field has been streamed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListSummary {
    /// How many custom fields were streamed.
    pub count: u64,
}

/// `GET /contact_custom_fields`, every page.
pub struct List;

impl Method for List {
    type Input = ListInput;
    type Output = ListSummary;
    type Record = CustomField;
    const INFO: MethodInfo = MethodInfo {
        id: "custom_fields.list",
        name: "List Custom Fields",
        category: "Custom Fields",
        description: "Streams every custom field of the account, following the API's pages.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, CustomField>,
        _input: ListInput,
    ) -> Result<ListSummary, ConnectorError> {
        let mut pages =
            Pages::new(HttpRequest::get("/contact_custom_fields").query("limit", PAGE_SIZE));
        while let Some(request) = pages.next_request() {
            let page: Page = check(cx.send(request)?)?.decode()?;
            cx.log(
                LogLevel::Debug,
                &format!(
                    "custom_fields.list: a page of {} custom fields",
                    page.custom_fields.len()
                ),
            );
            for field in &page.custom_fields {
                cx.emit(field)?;
            }
            pages.advance(&page.links)?;
        }
        Ok(ListSummary {
            count: cx.emitted(),
        })
    }
}

/// A choice of a new select field.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChoice {
    /// The label shown for the choice (up to 255 characters).
    pub choice_label: String,
    /// Where the choice is shown in the list of choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i64>,
}

/// Input of `custom_fields.create`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<CustomFieldMetadata>,
    /// The choices of a select field (up to 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub choices: Vec<NewChoice>,
    /// For dates: 2 stores real dates (comparable), 1 legacy text dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// `POST /contact_custom_fields`.
pub struct Create;

impl Method for Create {
    type Input = CreateInput;
    type Output = CustomField;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "custom_fields.create",
        name: "Create Custom Field",
        category: "Custom Fields",
        description: "Creates a custom field (an account has at most 100); fails with \
            `already_exists` when the label is taken.",
        kind: MethodKind::Action,
        idempotent: false,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: CreateInput,
    ) -> Result<CustomField, ConnectorError> {
        let request = HttpRequest::post("/contact_custom_fields").json(&input)?;
        let what = format!("a custom field labelled `{}`", input.label);
        check_create(cx.send(request)?, &what)?.decode()
    }
}

/// A choice of a select field to keep, change or add; the update lists every choice the field
/// keeps.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChoiceUpdate {
    /// The id of an existing choice; leave it out to add a choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_id: Option<i64>,
    /// The label shown for the choice (up to 255 characters).
    pub choice_label: String,
    /// Where the choice is shown in the list of choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i64>,
}

/// Input of `custom_fields.update`: the field as it should be afterwards. The API's PUT replaces
/// the field, and "any properties omitted in the PUT request are overwritten with a null value",
/// so there is nothing optional to leave unchanged: the label is required, and the choices are
/// the whole list.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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

/// `PUT /contact_custom_fields/{custom_field_id}`.
pub struct Update;

impl Method for Update {
    type Input = UpdateInput;
    type Output = CustomField;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "custom_fields.update",
        name: "Replace Custom Field",
        category: "Custom Fields",
        description: "Replaces a custom field's label and, for select fields, its whole list of \
            choices (PUT): give the label even if unchanged, and every choice to keep; choices \
            left out are removed.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: UpdateInput,
    ) -> Result<CustomField, ConnectorError> {
        let path = format!(
            "/contact_custom_fields/{}",
            segment("custom_field_id", &input.custom_field_id)?
        );
        let request = HttpRequest::put(path).json(&input)?;
        check(cx.send(request)?)?.decode()
    }
}

/// Input of `custom_fields.delete`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteInput {
    /// The custom field's id.
    pub custom_field_id: String,
}

/// `DELETE /contact_custom_fields/{custom_field_id}`.
pub struct Delete;

impl Method for Delete {
    type Input = DeleteInput;
    type Output = Deleted;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "custom_fields.delete",
        name: "Delete Custom Field",
        category: "Custom Fields",
        description: "Deletes a custom field and its value on every contact.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: DeleteInput,
    ) -> Result<Deleted, ConnectorError> {
        let path = format!(
            "/contact_custom_fields/{}",
            segment("custom_field_id", &input.custom_field_id)?
        );
        check(cx.send(HttpRequest::delete(path))?)?;
        Ok(Deleted {
            id: input.custom_field_id,
        })
    }
}
