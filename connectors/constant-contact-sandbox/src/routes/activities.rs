//! Bulk activities: JSON import (really creates/updates contacts), list membership add/remove,
//! contact delete, and their status (`initialized` on creation, `processing` on the first read
//! within a second, `completed` afterwards). The work itself is done when the activity is created.

use std::collections::HashSet;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Params, json, page, resume};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::{Address, Contact, EmailAddr, Phone, Store};
use crate::util::format_ms;

/// Most contacts one JSON import may carry.
pub const MAX_IMPORT_CONTACTS: usize = 40_000;
/// The JSON import's payload limit (4 MB).
pub const MAX_IMPORT_BYTES: usize = 4 * 1024 * 1024;

/// How long an activity may stay `processing` when read.
const PROCESSING_FOR: Duration = Duration::from_secs(1);

/// Renders activity `index`. `read` advances its state as a status poll does; a creation
/// response shows it `initialized`.
pub(crate) fn render(store: &mut Store, index: usize, read: bool) -> Value {
    let activity = &mut store.activities[index];
    let (state, percent) = if read {
        activity.reads += 1;
        if activity.reads == 1 && activity.created_instant.elapsed() < PROCESSING_FOR {
            ("processing", 50)
        } else {
            ("completed", 100)
        }
    } else {
        ("initialized", 0)
    };
    let mut out = Map::new();
    out.insert("activity_id".into(), json!(activity.id));
    out.insert("state".into(), json!(state));
    out.insert("created_at".into(), json!(format_ms(activity.created_at)));
    out.insert("updated_at".into(), json!(format_ms(activity.created_at)));
    if state != "initialized" {
        out.insert("started_at".into(), json!(format_ms(activity.created_at)));
    }
    if state == "completed" {
        out.insert("completed_at".into(), json!(format_ms(activity.created_at)));
    }
    out.insert("percent_done".into(), json!(percent));
    out.insert(
        "activity_errors".into(),
        if state == "completed" {
            json!(activity.errors)
        } else {
            json!([])
        },
    );
    let mut status = activity.status.clone();
    if state != "completed"
        && let Some(done) = status.get_mut("items_completed_count")
    {
        *done = json!(0);
    }
    out.insert("status".into(), status);
    out.insert(
        "_links".into(),
        json!({"self": {"href": format!("/v3/activities/{}", activity.id)}}),
    );
    Value::Object(out)
}

/// `GET /activities/{activity_id}`.
pub(crate) async fn get_one(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    let index = store
        .activities
        .iter()
        .position(|a| a.id == id)
        .ok_or_else(|| ApiError::not_found("activity"))?;
    Ok(json(StatusCode::OK, render(&mut store, index, true)))
}

/// `GET /activities`: newest first, optionally by state.
pub(crate) async fn list(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let (params, offset) = resume(params)?;
    let limit = super::limit(&params, 50, 500)?;
    let wanted = params.get("state").cloned();
    if let Some(state) = &wanted
        && !matches!(
            state.as_str(),
            "processing" | "completed" | "cancelled" | "failed" | "timed_out"
        )
    {
        return Err(ApiError::validation(format!(
            "state: `{state}` is not valid."
        )));
    }
    let mut store = lock(&shared.store);
    // Listing is a read of each activity's status, as polling one is.
    let rendered: Vec<Value> = (0..store.activities.len())
        .rev()
        .map(|i| render(&mut store, i, true))
        .filter(|a| wanted.as_ref().is_none_or(|s| a["state"] == s.as_str()))
        .collect();
    let (items, links) = page(&rendered, "/activities", &params, offset, limit);
    let mut body = json!({"activities": items});
    if let Some(links) = links {
        body["_links"] = links;
    }
    Ok(json(StatusCode::OK, body))
}

fn created(store: &mut Store, status: Value, errors: Vec<String>) -> ApiResult {
    let index = store.add_activity(status, errors);
    Ok(json(StatusCode::CREATED, render(store, index, false)))
}

fn check_lists(store: &Store, ids: &[String], max: usize) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > max {
        return Err(ApiError::validation(format!(
            "list_ids requires 1 to {max} list ids."
        )));
    }
    match store.unknown_lists(ids).first() {
        Some(id) => Err(ApiError::validation(format!(
            "list_ids: `{id}` does not exist."
        ))),
        None => Ok(()),
    }
}

fn text(row: &Map<String, Value>, name: &str) -> Option<String> {
    match row.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Applies one import row to `contact` (only the properties the row carries).
fn apply_row(
    contact: &mut Contact,
    row: &Map<String, Value>,
    store_fields: &[(String, String)],
    rng: &mut fastrand::Rng,
    now: i64,
) -> Result<(), String> {
    for (name, target) in [
        ("first_name", &mut contact.first_name),
        ("last_name", &mut contact.last_name),
        ("job_title", &mut contact.job_title),
        ("company_name", &mut contact.company_name),
        ("anniversary", &mut contact.anniversary),
    ] {
        if let Some(value) = text(row, name) {
            if value.chars().count() > 50 {
                return Err(format!("{name} is longer than 50 characters"));
            }
            *target = Some(value);
        }
    }
    for (name, target) in [
        ("birthday_month", &mut contact.birthday_month),
        ("birthday_day", &mut contact.birthday_day),
    ] {
        if let Some(value) = text(row, name) {
            *target = Some(
                value
                    .parse()
                    .map_err(|_| format!("{name} is not a number"))?,
            );
        }
    }
    for (name, kind) in [
        ("phone", "other"),
        ("home_phone", "home"),
        ("work_phone", "work"),
        ("mobile_phone", "mobile"),
        ("other_phone", "other"),
    ] {
        if let Some(number) = text(row, name) {
            let count = contact.phone_numbers.len();
            match contact.phone_numbers.iter_mut().find(|p| p.kind == kind) {
                Some(phone) => phone.number = number,
                None if count < 3 => contact.phone_numbers.push(Phone {
                    id: crate::util::uuid(rng),
                    number,
                    kind: kind.into(),
                    created_at: now,
                }),
                None => return Err("a contact can have at most 3 phone numbers".into()),
            }
        }
    }
    for (prefix, kind) in [
        ("", "home"),
        ("home_", "home"),
        ("work_", "work"),
        ("other_", "other"),
    ] {
        let get = |part: &str| text(row, &format!("{prefix}{part}"));
        let country = get("country")
            .or_else(|| text(row, &format!("{} country", prefix.trim_end_matches('_'))));
        let (street, city, state, zip) = (get("street"), get("city"), get("state"), get("zip"));
        if street.is_none()
            && city.is_none()
            && state.is_none()
            && zip.is_none()
            && country.is_none()
        {
            continue;
        }
        let street = match (street, get("street2")) {
            (Some(a), Some(b)) => Some(format!("{a}, {b}")),
            (a, b) => a.or(b),
        };
        let address = Address {
            id: crate::util::uuid(rng),
            kind: kind.into(),
            street,
            city,
            state,
            postal_code: zip,
            country,
            created_at: now,
        };
        let count = contact.street_addresses.len();
        match contact.street_addresses.iter_mut().find(|a| a.kind == kind) {
            Some(existing) => {
                *existing = Address {
                    id: existing.id.clone(),
                    ..address
                };
            }
            None if count < 3 => contact.street_addresses.push(address),
            None => return Err("a contact can have at most 3 street addresses".into()),
        }
    }
    let mut fields = 0;
    for (key, value) in row {
        let Some(name) = key.strip_prefix("cf:") else {
            continue;
        };
        fields += 1;
        let Some((id, _)) = store_fields.iter().find(|(_, n)| n == name) else {
            return Err(format!("custom field `{name}` does not exist"));
        };
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match contact.custom_fields.iter_mut().find(|(f, _)| f == id) {
            Some(existing) => existing.1 = value,
            None => contact.custom_fields.push((id.clone(), value)),
        }
    }
    if fields > 25 {
        return Err("a contact can have at most 25 custom fields".into());
    }
    Ok(())
}

#[derive(Deserialize)]
struct ImportIn {
    import_data: Option<Vec<Map<String, Value>>>,
    list_ids: Option<Vec<String>>,
}

/// `POST /activities/contacts_json_import`: creates or updates every row's contact and adds it
/// to `list_ids`. More than 40,000 rows, or a body of 4 MB or more, is refused with 400 (the
/// service documents truncation at 4 MB, which a client must not rely on).
pub(crate) async fn json_import(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    if body.len() >= MAX_IMPORT_BYTES {
        return Err(ApiError::validation(
            "The request body exceeds the maximum size of 4 MB.",
        ));
    }
    let input: ImportIn = parse_body(&body)?;
    let rows = input
        .import_data
        .ok_or_else(|| ApiError::validation("import_data is required."))?;
    if rows.is_empty() || rows.len() > MAX_IMPORT_CONTACTS {
        return Err(ApiError::validation(format!(
            "import_data must contain 1 to {MAX_IMPORT_CONTACTS} contacts."
        )));
    }
    let list_ids = input.list_ids.unwrap_or_default();
    let mut store = lock(&shared.store);
    check_lists(&store, &list_ids, 50)?;
    let fields: Vec<(String, String)> = store
        .custom_fields
        .iter()
        .map(|f| (f.id.clone(), f.name.clone()))
        .collect();
    let mut rng = store.rng.clone();
    let mut errors = Vec::new();
    let mut imported = 0;
    for (line, row) in rows.iter().enumerate() {
        let Some(email) = text(row, "email") else {
            errors.push(format!(
                "line {}: email is required (sms_number imports are not emulated)",
                line + 1
            ));
            continue;
        };
        let valid_email = email.len() <= 80
            && email
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
        if !valid_email {
            errors.push(format!(
                "line {}: `{email}` is not a valid email address",
                line + 1
            ));
            continue;
        }
        let now = store.tick();
        let outcome = match store.contact_id_by_email(&email).cloned() {
            Some(id) => {
                let mut result = Ok(());
                store.update_contact(&id, |c| {
                    let mut updated = c.clone();
                    result = apply_row(&mut updated, row, &fields, &mut rng, now);
                    if result.is_ok() {
                        updated.deleted_at = None;
                        updated.update_source = "Account".into();
                        for list in &list_ids {
                            if !updated.list_memberships.contains(list)
                                && updated.list_memberships.len() < 50
                            {
                                updated.list_memberships.push(list.clone());
                            }
                        }
                        *c = updated;
                    }
                });
                result
            }
            None => {
                let mut contact = Contact {
                    id: crate::util::uuid(&mut rng),
                    email: Some(EmailAddr {
                        address: email,
                        permission_to_send: "implicit".into(),
                        opt_in_source: Some("Account".into()),
                        opt_in_date: Some(now),
                        opt_out_source: None,
                        opt_out_date: None,
                        opt_out_reason: None,
                        confirm_status: "off".into(),
                        created_at: now,
                        updated_at: now,
                    }),
                    create_source: "Account".into(),
                    update_source: "Account".into(),
                    created_at: now,
                    updated_at: now,
                    list_memberships: list_ids.clone(),
                    ..Contact::default()
                };
                let result = apply_row(&mut contact, row, &fields, &mut rng, now);
                if result.is_ok() {
                    store.insert_contact(contact);
                }
                result
            }
        };
        match outcome {
            Ok(()) => imported += 1,
            Err(message) => errors.push(format!("line {}: {message}", line + 1)),
        }
    }
    store.rng = rng;
    let status = json!({
        "items_total_count": rows.len(),
        "person_count": imported,
        "error_count": errors.len(),
        "correctable_count": 0,
        "cannot_add_to_list_count": 0,
    });
    created(&mut store, status, errors)
}

#[derive(Deserialize, Default)]
struct Source {
    contact_ids: Option<Vec<String>>,
    list_ids: Option<Vec<String>>,
    tag_ids: Option<Vec<String>>,
    all_active_contacts: Option<bool>,
    segment_id: Option<i64>,
    engagement_level: Option<String>,
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

/// The contacts a membership activity's `source` selects, minus `exclude`.
fn select(
    store: &Store,
    source: &Source,
    exclude: Option<&Exclude>,
) -> Result<Vec<String>, ApiError> {
    let given = [
        source.contact_ids.is_some(),
        source.list_ids.is_some(),
        source.tag_ids.is_some(),
        source.all_active_contacts == Some(true),
        source.segment_id.is_some(),
        source.engagement_level.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::validation(
            "source must name exactly one kind of source.",
        ));
    }
    if source.engagement_level.is_some() {
        return Err(ApiError::validation(
            "engagement_level sources are not emulated by the sandbox.",
        ));
    }
    let active = |c: &&Contact| c.deleted_at.is_none() && c.status() != "unsubscribed";
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
        store
            .contacts
            .values()
            .filter(active)
            .filter(|c| c.list_memberships.iter().any(|l| lists.contains(l)))
            .map(|c| c.id.clone())
            .collect()
    } else if let Some(tags) = &source.tag_ids {
        store
            .contacts
            .values()
            .filter(active)
            .filter(|c| c.taggings.iter().any(|t| tags.contains(t)))
            .map(|c| c.id.clone())
            .collect()
    } else if let Some(segment) = source.segment_id {
        let list = store
            .segments
            .iter()
            .find(|s| s.id == segment)
            .ok_or_else(|| ApiError::not_found("segment"))?
            .list_id
            .clone()
            .unwrap_or_default();
        store
            .contacts
            .values()
            .filter(active)
            .filter(|c| c.list_memberships.contains(&list))
            .map(|c| c.id.clone())
            .collect()
    } else {
        store
            .contacts
            .values()
            .filter(active)
            .map(|c| c.id.clone())
            .collect()
    };
    if let Some(excluded) = exclude.and_then(|e| e.contact_ids.as_ref()) {
        let excluded: HashSet<&String> = excluded.iter().collect();
        chosen.retain(|id| !excluded.contains(id));
    }
    Ok(chosen)
}

async fn membership(shared: AppState, body: Bytes, add: bool) -> ApiResult {
    let input: MembershipIn = parse_body(&body)?;
    let source = input
        .source
        .ok_or_else(|| ApiError::validation("source is required."))?;
    let lists = input.list_ids.unwrap_or_default();
    let mut store = lock(&shared.store);
    check_lists(&store, &lists, 50)?;
    let chosen = select(&store, &source, input.exclude.as_ref())?;
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
