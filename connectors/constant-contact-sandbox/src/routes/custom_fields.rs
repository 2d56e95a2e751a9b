//! `/contact_custom_fields`: list (paged, ≤ 100 per page), create, get, PUT, DELETE (204).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Params, check_len, json, page, resume};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::CustomField;
use crate::util::format_ms;

/// An account holds at most 100 custom fields.
const MAX_FIELDS: usize = 100;
const TYPES: &[&str] = &[
    "string",
    "date",
    "number",
    "currency",
    "boolean",
    "single_select",
    "multi_select",
];

fn field_json(field: &CustomField) -> Value {
    json!({
        "custom_field_id": field.id,
        "label": field.label,
        "name": field.name,
        "type": field.kind,
        "created_at": format_ms(field.created_at),
        "updated_at": format_ms(field.updated_at),
    })
}

/// `GET /contact_custom_fields`.
pub(crate) async fn list(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let (params, offset) = resume(params)?;
    let limit = super::limit(&params, 50, 100)?;
    let store = lock(&shared.store);
    let (items, links) = page(
        &store.custom_fields,
        "/contact_custom_fields",
        &params,
        offset,
        limit,
    );
    let mut body = json!({"custom_fields": items.iter().map(field_json).collect::<Vec<_>>()});
    if let Some(links) = links {
        body["_links"] = links;
    }
    Ok(json(StatusCode::OK, body))
}

#[derive(Deserialize)]
struct FieldIn {
    label: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `POST /contact_custom_fields`: 201; needs `label` and `type`.
pub(crate) async fn create(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: FieldIn = parse_body(&body)?;
    let label = input
        .label
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| ApiError::validation("label is required."))?;
    check_len("label", Some(&label), 50)?;
    let kind = input
        .kind
        .ok_or_else(|| ApiError::validation("type is required."))?;
    if !TYPES.contains(&kind.as_str()) {
        return Err(ApiError::validation(format!(
            "type `{kind}` is not supported."
        )));
    }
    let mut store = lock(&shared.store);
    if store.custom_fields.len() >= MAX_FIELDS {
        return Err(ApiError::validation(
            "An account can have at most 100 custom fields.",
        ));
    }
    let name = label.to_lowercase().replace(' ', "_");
    if store.custom_fields.iter().any(|f| f.name == name) {
        return Err(ApiError::conflict(format!(
            "A custom field named `{name}` already exists."
        )));
    }
    let now = store.tick();
    let field = CustomField {
        id: store.new_id(),
        label,
        name,
        kind,
        created_at: now,
        updated_at: now,
    };
    let body = field_json(&field);
    store.custom_fields.push(field);
    Ok(json(StatusCode::CREATED, body))
}

/// `GET /contact_custom_fields/{custom_field_id}`.
pub(crate) async fn get_one(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let store = lock(&shared.store);
    let field = store
        .custom_fields
        .iter()
        .find(|f| f.id == id)
        .ok_or_else(|| ApiError::not_found("custom field"))?;
    Ok(json(StatusCode::OK, field_json(field)))
}

/// `PUT /contact_custom_fields/{custom_field_id}`: replaces the field's label. The spec says
/// properties left out of the PUT "are overwritten with a null value", and a custom field cannot
/// be without its label, so the sandbox answers 400 to a PUT without one (how the real service
/// refuses it is undocumented). Choices are not modelled.
pub(crate) async fn put(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: FieldIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let now = store.tick();
    let field = store
        .custom_fields
        .iter_mut()
        .find(|f| f.id == id)
        .ok_or_else(|| ApiError::not_found("custom field"))?;
    let label = input
        .label
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| {
            ApiError::validation("label is required: a PUT replaces the whole custom field.")
        })?;
    check_len("label", Some(&label), 50)?;
    field.label = label;
    field.updated_at = now;
    Ok(json(StatusCode::OK, field_json(field)))
}

/// `DELETE /contact_custom_fields/{custom_field_id}`: 204; contacts lose the field's values.
pub(crate) async fn delete(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    let Some(position) = store.custom_fields.iter().position(|f| f.id == id) else {
        return Err(ApiError::not_found("custom field"));
    };
    store.custom_fields.remove(position);
    for contact in store.contacts.values_mut() {
        contact.custom_fields.retain(|(field, _)| *field != id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
