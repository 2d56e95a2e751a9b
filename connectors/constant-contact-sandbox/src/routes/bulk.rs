//! Bulk activities that change many contacts at once: list memberships added or removed, contacts
//! deleted, tags added to or removed from contacts, and lists, tags or custom fields deleted in
//! bulk. Each answers 201 with its (already done) activity.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

use super::activities::{check_lists, created};
use super::contacts::segment_members;
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::{Contact, Store};

#[derive(Deserialize, Default)]
struct Source {
    contact_ids: Option<Vec<String>>,
    list_ids: Option<Vec<String>>,
    tag_ids: Option<Vec<String>>,
    all_active_contacts: Option<bool>,
    segment_id: Option<i64>,
    engagement_level: Option<String>,
    new_subscriber: Option<bool>,
}

#[derive(Deserialize, Default)]
struct Exclude {
    contact_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct MembershipIn {
    source: Option<Source>,
    list_ids: Option<Vec<String>>,
    exclude: Option<Exclude>,
}

/// The source kinds an operation accepts (membership and tagging activities differ).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sources {
    Memberships,
    Taggings,
}

/// Whether a contact counts as active for bulk sources (not deleted, not unsubscribed).
fn active(contact: &Contact) -> bool {
    contact.deleted_at.is_none() && contact.status() != "unsubscribed"
}

/// The contacts an activity's `source` selects, minus `exclude` (allowed only with an
/// `all_active_contacts` or `list_ids` source, as the spec says).
fn select(
    store: &Store,
    source: &Source,
    exclude: Option<&Exclude>,
    kinds: Sources,
) -> Result<Vec<String>, ApiError> {
    let new_subscriber = source.new_subscriber == Some(true);
    let given = [
        source.contact_ids.is_some(),
        source.list_ids.is_some(),
        source.tag_ids.is_some(),
        source.all_active_contacts == Some(true),
        source.segment_id.is_some(),
        source.engagement_level.is_some(),
        new_subscriber,
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::validation(
            "source must name exactly one kind of source.",
        ));
    }
    match kinds {
        Sources::Memberships if new_subscriber => {
            return Err(ApiError::validation(
                "source.new_subscriber is not a source of list membership activities.",
            ));
        }
        Sources::Taggings if source.segment_id.is_some() || source.engagement_level.is_some() => {
            return Err(ApiError::validation(
                "source of a tagging activity must be contact_ids, list_ids, tag_ids, all_active_contacts or new_subscriber.",
            ));
        }
        _ => {}
    }
    if source.engagement_level.is_some() {
        return Err(ApiError::validation(
            "engagement_level sources are not emulated by the sandbox.",
        ));
    }
    let excluded = exclude.and_then(|e| e.contact_ids.as_ref());
    if excluded.is_some() && source.all_active_contacts != Some(true) && source.list_ids.is_none() {
        return Err(ApiError::validation(
            "exclude can only be used with an all_active_contacts or list_ids source.",
        ));
    }
    let every = |keep: &dyn Fn(&Contact) -> bool| -> Vec<String> {
        store
            .contacts
            .values()
            .filter(|c| active(c) && keep(c))
            .map(|c| c.id.clone())
            .collect()
    };
    let mut chosen: Vec<String> = if let Some(ids) = &source.contact_ids {
        if ids.len() > 500 {
            return Err(ApiError::validation(
                "source.contact_ids accepts at most 500 ids.",
            ));
        }
        ids.iter()
            .filter(|id| {
                store
                    .contacts
                    .get(*id)
                    .is_some_and(|c| c.deleted_at.is_none())
            })
            .cloned()
            .collect()
    } else if let Some(lists) = &source.list_ids {
        check_lists(store, lists, 50)?;
        every(&|c| c.list_memberships.iter().any(|l| lists.contains(l)))
    } else if let Some(tags) = &source.tag_ids {
        check_tags(store, "source.tag_ids", tags, 50)?;
        every(&|c| c.taggings.iter().any(|t| tags.contains(t)))
    } else if let Some(segment) = source.segment_id {
        let members = segment_members(store, segment)?;
        every(&|c| members.matches(c))
    } else if new_subscriber {
        let since = crate::util::now_ms() - 30 * 86_400_000;
        every(&|c| c.created_at >= since)
    } else {
        every(&|_| true)
    };
    if let Some(excluded) = excluded {
        let excluded: HashSet<&String> = excluded.iter().collect();
        chosen.retain(|id| !excluded.contains(id));
    }
    chosen.sort();
    Ok(chosen)
}

/// Checks tag ids: 1 to `max` tags that exist (`field` names them in errors).
fn check_tags(store: &Store, field: &str, ids: &[String], max: usize) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > max {
        return Err(ApiError::validation(format!(
            "{field} requires 1 to {max} tag ids."
        )));
    }
    match ids
        .iter()
        .find(|id| !store.tags.iter().any(|t| &t.id == *id))
    {
        Some(id) => Err(ApiError::validation(format!(
            "{field}: `{id}` does not exist."
        ))),
        None => Ok(()),
    }
}

async fn membership(shared: AppState, body: Bytes, add: bool) -> ApiResult {
    let input: MembershipIn = parse_body(&body)?;
    let source = input
        .source
        .ok_or_else(|| ApiError::validation("source is required."))?;
    let lists = input.list_ids.unwrap_or_default();
    let mut store = lock(&shared.store);
    check_lists(&store, &lists, 50)?;
    let chosen = select(
        &store,
        &source,
        input.exclude.as_ref(),
        Sources::Memberships,
    )?;
    let mut completed = 0;
    for id in &chosen {
        store.update_contact(id, |c| {
            for list in &lists {
                if add {
                    if !c.list_memberships.contains(list) && c.list_memberships.len() < 50 {
                        c.list_memberships.push(list.clone());
                    }
                } else {
                    c.list_memberships.retain(|l| l != list);
                }
            }
        });
        completed += 1;
    }
    let status = json!({"items_total_count": chosen.len(), "items_completed_count": completed,
                        "list_count": lists.len()});
    created(&mut store, status, Vec::new())
}

/// `POST /activities/add_list_memberships`.
pub(crate) async fn add_list_memberships(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    membership(shared, body, true).await
}

/// `POST /activities/remove_list_memberships`.
pub(crate) async fn remove_list_memberships(
    State(shared): State<AppState>,
    body: Bytes,
) -> ApiResult {
    membership(shared, body, false).await
}

#[derive(Deserialize)]
struct DeleteIn {
    contact_ids: Option<Vec<String>>,
    list_ids: Option<Vec<String>>,
}

/// `POST /activities/contact_delete`: by `contact_ids` (≤ 500) or every member of `list_ids` (≤ 50).
pub(crate) async fn contact_delete(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: DeleteIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let (chosen, list_count): (Vec<String>, usize) = match (&input.contact_ids, &input.list_ids) {
        (Some(ids), None) => {
            if ids.is_empty() || ids.len() > 500 {
                return Err(ApiError::validation("contact_ids requires 1 to 500 ids."));
            }
            (
                ids.iter()
                    .filter(|id| {
                        store
                            .contacts
                            .get(*id)
                            .is_some_and(|c| c.deleted_at.is_none())
                    })
                    .cloned()
                    .collect(),
                0,
            )
        }
        (None, Some(lists)) => {
            check_lists(&store, lists, 50)?;
            (
                store
                    .contacts
                    .values()
                    .filter(|c| c.deleted_at.is_none())
                    .filter(|c| c.list_memberships.iter().any(|l| lists.contains(l)))
                    .map(|c| c.id.clone())
                    .collect(),
                lists.len(),
            )
        }
        _ => {
            return Err(ApiError::validation(
                "Give either contact_ids or list_ids, not both.",
            ));
        }
    };
    let now = store.tick();
    for id in &chosen {
        store.update_contact(id, |c| c.deleted_at = Some(now));
    }
    let status = json!({"items_total_count": chosen.len(), "items_completed_count": chosen.len(),
                        "list_count": list_count});
    created(&mut store, status, Vec::new())
}

#[derive(Deserialize)]
struct TaggingIn {
    source: Option<Source>,
    tag_ids: Option<Vec<String>>,
    exclude: Option<Exclude>,
}

async fn tagging(shared: AppState, body: Bytes, add: bool) -> ApiResult {
    let input: TaggingIn = parse_body(&body)?;
    let source = input
        .source
        .ok_or_else(|| ApiError::validation("source is required."))?;
    let tags = input
        .tag_ids
        .ok_or_else(|| ApiError::validation("tag_ids is required."))?;
    let mut store = lock(&shared.store);
    check_tags(&store, "tag_ids", &tags, 50)?;
    let chosen = select(&store, &source, input.exclude.as_ref(), Sources::Taggings)?;
    for id in &chosen {
        store.update_contact(id, |c| {
            for tag in &tags {
                if add {
                    // A contact holds at most 50 tags; the rest are not added.
                    if !c.taggings.contains(tag) && c.taggings.len() < 50 {
                        c.taggings.push(tag.clone());
                    }
                } else {
                    c.taggings.retain(|t| t != tag);
                }
            }
        });
    }
    let status = json!({"items_total_count": chosen.len(), "items_completed_count": chosen.len()});
    created(&mut store, status, Vec::new())
}

/// `POST /activities/contacts_taggings_add`.
pub(crate) async fn taggings_add(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    tagging(shared, body, true).await
}

/// `POST /activities/contacts_taggings_remove`.
pub(crate) async fn taggings_remove(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    tagging(shared, body, false).await
}

/// Ids of a bulk delete: 1 to `max`, each of a thing that exists.
fn delete_ids(
    ids: Option<Vec<String>>,
    field: &str,
    max: usize,
    exists: impl Fn(&str) -> bool,
) -> Result<Vec<String>, ApiError> {
    let ids = ids.ok_or_else(|| ApiError::validation(format!("{field} is required.")))?;
    if ids.is_empty() || ids.len() > max {
        return Err(ApiError::validation(format!(
            "{field} requires 1 to {max} ids."
        )));
    }
    if let Some(unknown) = ids.iter().find(|id| !exists(id)) {
        return Err(ApiError::validation(format!(
            "{field}: `{unknown}` does not exist."
        )));
    }
    Ok(ids)
}

/// Removes `remove` from every contact that `holds` it, stamping only the contacts changed.
fn strip_contacts(
    store: &mut Store,
    holds: impl Fn(&Contact) -> bool,
    remove: impl Fn(&mut Contact),
) {
    let changed: Vec<String> = store
        .contacts
        .values()
        .filter(|c| holds(c))
        .map(|c| c.id.clone())
        .collect();
    for id in &changed {
        store.update_contact(id, &remove);
    }
}

#[derive(Deserialize)]
struct ListDeleteIn {
    list_ids: Option<Vec<String>>,
}

/// `POST /activities/list_delete`: deletes up to 100 lists and their memberships.
pub(crate) async fn list_delete(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: ListDeleteIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let ids = delete_ids(input.list_ids, "list_ids", 100, |id| {
        store.list(id).is_some()
    })?;
    store.lists.retain(|l| !ids.contains(&l.id));
    strip_contacts(
        &mut store,
        |c| c.list_memberships.iter().any(|l| ids.contains(l)),
        |c| c.list_memberships.retain(|l| !ids.contains(l)),
    );
    created(&mut store, json!({"list_count": ids.len()}), Vec::new())
}

#[derive(Deserialize)]
struct TagDeleteIn {
    tag_ids: Option<Vec<String>>,
}

/// `POST /activities/contacts_tags_delete`: deletes up to 500 tags and their taggings.
pub(crate) async fn tags_delete(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: TagDeleteIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let ids = delete_ids(input.tag_ids, "tag_ids", 500, |id| {
        store.tags.iter().any(|t| t.id == id)
    })?;
    store.tags.retain(|t| !ids.contains(&t.id));
    strip_contacts(
        &mut store,
        |c| c.taggings.iter().any(|t| ids.contains(t)),
        |c| c.taggings.retain(|t| !ids.contains(t)),
    );
    let status = json!({"items_total_count": ids.len(), "items_completed_count": ids.len()});
    created(&mut store, status, Vec::new())
}

#[derive(Deserialize)]
struct FieldDeleteIn {
    custom_field_ids: Option<Vec<String>>,
}

/// `POST /activities/custom_fields_delete`: deletes up to 100 custom fields and their values.
pub(crate) async fn custom_fields_delete(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: FieldDeleteIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let ids = delete_ids(input.custom_field_ids, "custom_field_ids", 100, |id| {
        store.custom_fields.iter().any(|f| f.id == id)
    })?;
    store.custom_fields.retain(|f| !ids.contains(&f.id));
    strip_contacts(
        &mut store,
        |c| c.custom_fields.iter().any(|(f, _)| ids.contains(f)),
        |c| c.custom_fields.retain(|(f, _)| !ids.contains(f)),
    );
    let status = json!({"items_total_count": ids.len(), "items_completed_count": ids.len()});
    created(&mut store, status, Vec::new())
}
