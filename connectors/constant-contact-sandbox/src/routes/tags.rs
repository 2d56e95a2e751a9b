//! `/contact_tags`: list (paged, optional contact counts), create, get, PUT, DELETE (202 with an
//! activity).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Params, check_len, flag, json, page, resume};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::{Store, Tag};
use crate::util::format_ms;

fn tag_json(store: &Store, tag: &Tag, with_count: bool) -> Value {
    let mut out = json!({
        "tag_id": tag.id,
        "name": tag.name,
        "created_at": format_ms(tag.created_at),
        "updated_at": format_ms(tag.updated_at),
    });
    if let Some(source) = &tag.tag_source {
        out["tag_source"] = json!(source);
    }
    if with_count {
        let count = store
            .contacts
            .values()
            .filter(|c| c.deleted_at.is_none() && c.taggings.contains(&tag.id))
            .count();
        out["contacts_count"] = json!(count);
    }
    out
}

/// `GET /contact_tags`.
pub(crate) async fn list(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let (params, offset) = resume(params)?;
    let limit = super::limit(&params, 50, 500)?;
    let with_count = flag(&params, "include_count")?;
    let store = lock(&shared.store);
    let (items, links) = page(&store.tags, "/contact_tags", &params, offset, limit);
    let tags: Vec<Value> = items
        .iter()
        .map(|t| tag_json(&store, t, with_count))
        .collect();
    let mut body = json!({"tags": tags});
    if let Some(links) = links {
        body["_links"] = links;
    }
    Ok(json(StatusCode::OK, body))
}

#[derive(Deserialize)]
struct TagIn {
    name: Option<String>,
    tag_source: Option<String>,
}

fn validated(store: &Store, input: &TagIn, except: Option<&str>) -> Result<String, ApiError> {
    let name = input
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::validation("name is required."))?;
    check_len("name", Some(&name), 255)?;
    if store
        .tags
        .iter()
        .any(|t| t.name.eq_ignore_ascii_case(&name) && Some(t.id.as_str()) != except)
    {
        return Err(ApiError::conflict(format!(
            "A tag named `{name}` already exists."
        )));
    }
    Ok(name)
}

/// `POST /contact_tags`: 201.
pub(crate) async fn create(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: TagIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let name = validated(&store, &input, None)?;
    let now = store.tick();
    let tag = Tag {
        id: store.new_id(),
        name,
        tag_source: input.tag_source,
        created_at: now,
        updated_at: now,
    };
    let body = tag_json(&store, &tag, false);
    store.tags.push(tag);
    Ok(json(StatusCode::CREATED, body))
}

/// `GET /contact_tags/{tag_id}`.
pub(crate) async fn get_one(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult {
    let with_count = flag(&params, "include_count")?;
    let store = lock(&shared.store);
    let tag = store
        .tags
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiError::not_found("tag"))?;
    Ok(json(StatusCode::OK, tag_json(&store, tag, with_count)))
}

/// `PUT /contact_tags/{tag_id}`: renames.
pub(crate) async fn put(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: TagIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let Some(position) = store.tags.iter().position(|t| t.id == id) else {
        return Err(ApiError::not_found("tag"));
    };
    let name = validated(&store, &input, Some(&id))?;
    let now = store.tick();
    store.tags[position].name = name;
    store.tags[position].updated_at = now;
    let body = tag_json(&store, &store.tags[position], false);
    Ok(json(StatusCode::OK, body))
}

/// `DELETE /contact_tags/{tag_id}`: removes the tag and its taggings; 202 with the activity.
pub(crate) async fn delete(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    let Some(position) = store.tags.iter().position(|t| t.id == id) else {
        return Err(ApiError::not_found("tag"));
    };
    store.tags.remove(position);
    let tagged: Vec<String> = store
        .contacts
        .values()
        .filter(|c| c.taggings.contains(&id))
        .map(|c| c.id.clone())
        .collect();
    for contact in &tagged {
        store.update_contact(contact, |c| c.taggings.retain(|t| *t != id));
    }
    let index = store.add_activity(
        json!({"items_total_count": 1, "items_completed_count": 1}),
        Vec::new(),
    );
    let activity = super::activities::render(&mut store, index, false);
    Ok(json(StatusCode::ACCEPTED, activity))
}
