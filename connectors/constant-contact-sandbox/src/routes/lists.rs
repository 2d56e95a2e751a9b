//! `/contact_lists`: list (paged, optional membership counts), create, get, PUT, and DELETE
//! (asynchronous: 202 with an activity).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Params, check_len, flag, json, page, resume};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::{ContactList, Store};
use crate::util::format_ms;

fn list_json(list: &ContactList, count: Option<usize>) -> Value {
    let mut out = json!({
        "list_id": list.id,
        "name": list.name,
        "favorite": list.favorite,
        "created_at": format_ms(list.created_at),
        "updated_at": format_ms(list.updated_at),
    });
    if let Some(description) = &list.description {
        out["description"] = json!(description);
    }
    if let Some(count) = count {
        out["membership_count"] = json!(count);
    }
    out
}

fn membership_count(store: &Store, list_id: &str, active_only: bool) -> usize {
    store
        .contacts
        .values()
        .filter(|c| c.deleted_at.is_none())
        .filter(|c| !active_only || !matches!(c.status(), "unsubscribed" | "temp_hold"))
        .filter(|c| c.list_memberships.iter().any(|l| l == list_id))
        .count()
}

fn count_mode(params: &Params) -> Result<Option<bool>, ApiError> {
    match params.get("include_membership_count").map(String::as_str) {
        None => Ok(None),
        Some("all") => Ok(Some(false)),
        Some("active") => Ok(Some(true)),
        Some(other) => Err(ApiError::validation(format!(
            "include_membership_count: `{other}` must be all or active."
        ))),
    }
}

/// `GET /contact_lists`.
pub(crate) async fn list(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let (params, offset) = resume(params)?;
    let limit = super::limit(&params, 50, 1000)?;
    let counts = count_mode(&params)?;
    let include_count = flag(&params, "include_count")?;
    if let Some(status) = params.get("status")
        && !matches!(status.as_str(), "all" | "active" | "deleted")
    {
        return Err(ApiError::validation(
            "status must be all, active or deleted.",
        ));
    }
    // The sandbox's account has email lists only: SMS lists are an empty collection.
    let sms = match params.get("channel_type").map(String::as_str) {
        None | Some("email") => false,
        Some("sms") => true,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "channel_type: `{other}` must be email or sms."
            )));
        }
    };
    flag(&params, "include_sms_membership_count")?;
    let store = lock(&shared.store);
    let name = params.get("name");
    let matching: Vec<&ContactList> = store
        .lists
        .iter()
        .filter(|_| !sms)
        .filter(|l| name.is_none_or(|n| l.name == *n))
        .filter(|_| params.get("status").is_none_or(|s| s != "deleted"))
        .collect();
    let (items, links) = page(&matching, "/contact_lists", &params, offset, limit);
    let lists: Vec<Value> = items
        .iter()
        .map(|l| {
            list_json(
                l,
                counts.map(|active| membership_count(&store, &l.id, active)),
            )
        })
        .collect();
    let mut body = json!({"lists": lists});
    if let Some(links) = links {
        body["_links"] = links;
    }
    if include_count {
        body["lists_count"] = json!(matching.len());
    }
    Ok(json(StatusCode::OK, body))
}

#[derive(Deserialize)]
struct ListIn {
    name: Option<String>,
    favorite: Option<bool>,
    description: Option<String>,
}

fn validated(store: &Store, input: &ListIn, except: Option<&str>) -> Result<String, ApiError> {
    let name = input
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::validation("name is required."))?;
    check_len("name", Some(&name), 255)?;
    if store
        .lists
        .iter()
        .any(|l| l.name.eq_ignore_ascii_case(&name) && Some(l.id.as_str()) != except)
    {
        return Err(ApiError::conflict(format!(
            "A list named `{name}` already exists."
        )));
    }
    Ok(name)
}

/// `POST /contact_lists`: 201.
pub(crate) async fn create(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: ListIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let name = validated(&store, &input, None)?;
    let now = store.tick();
    let list = ContactList {
        id: store.new_id(),
        name,
        description: input.description,
        favorite: input.favorite.unwrap_or(false),
        created_at: now,
        updated_at: now,
    };
    let body = list_json(&list, None);
    store.lists.push(list);
    Ok(json(StatusCode::CREATED, body))
}

/// `GET /contact_lists/{list_id}`.
pub(crate) async fn get_one(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult {
    let counts = count_mode(&params)?;
    let store = lock(&shared.store);
    let list = store.list(&id).ok_or_else(|| ApiError::not_found("list"))?;
    let count = counts.map(|active| membership_count(&store, &id, active));
    Ok(json(StatusCode::OK, list_json(list, count)))
}

/// `PUT /contact_lists/{list_id}`.
pub(crate) async fn put(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: ListIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    if store.list(&id).is_none() {
        return Err(ApiError::not_found("list"));
    }
    let name = validated(&store, &input, Some(&id))?;
    let now = store.tick();
    let list = store
        .lists
        .iter_mut()
        .find(|l| l.id == id)
        .ok_or_else(|| ApiError::not_found("list"))?;
    list.name = name;
    list.description = input.description;
    list.favorite = input.favorite.unwrap_or(false);
    list.updated_at = now;
    Ok(json(StatusCode::OK, list_json(list, None)))
}

/// `DELETE /contact_lists/{list_id}`: removes the list and its memberships; 202 with the
/// activity that did it.
pub(crate) async fn delete(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    let Some(position) = store.lists.iter().position(|l| l.id == id) else {
        return Err(ApiError::not_found("list"));
    };
    store.lists.remove(position);
    let members: Vec<String> = store
        .contacts
        .values()
        .filter(|c| c.list_memberships.contains(&id))
        .map(|c| c.id.clone())
        .collect();
    for contact in &members {
        store.update_contact(contact, |c| c.list_memberships.retain(|l| *l != id));
    }
    let index = store.add_activity(
        json!({"list_count": 1, "items_total_count": 1, "items_completed_count": 1}),
        Vec::new(),
    );
    let activity = super::activities::render(&mut store, index, false);
    let href = activity["_links"]["self"]["href"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut response = json(StatusCode::ACCEPTED, activity);
    if let Ok(location) = axum::http::HeaderValue::from_str(&href) {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, location);
    }
    Ok(response)
}
