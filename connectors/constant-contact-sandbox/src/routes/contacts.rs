//! Reading contacts: `GET /contacts` (filters, cursor paging over the `(updated_at, id)` index),
//! `GET /contacts/{contact_id}`, the consent counts, `DELETE` (the contact is kept as deleted) and
//! `PUT /contacts/resubscribe/{contact_id}`. A contact's JSON, SMS channel included, is built here
//! for every module that answers with one.

use std::collections::HashSet;
use std::ops::Bound;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Params, flag, json};
use crate::criteria::{Criteria, Prepared};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::{Contact, SmsChannel, Store};
use crate::util::{decode_cursor, encode_cursor, format_date, format_ms, parse_iso};

const INCLUDES: &[&str] = &[
    "custom_fields",
    "list_memberships",
    "phone_numbers",
    "street_addresses",
    "taggings",
    "notes",
];
const SMS_STATUSES: &[&str] = &[
    "all",
    "explicit",
    "unsubscribed",
    "pending_confirmation",
    "not_set",
];
const STATUSES: &[&str] = &[
    "all",
    "active",
    "deleted",
    "not_set",
    "pending_confirmation",
    "temp_hold",
    "unsubscribed",
    "explicit",
    "implicit",
];
/// The email permissions a contact can have.
pub(crate) const PERMISSIONS: &[&str] = &[
    "explicit",
    "implicit",
    "not_set",
    "pending_confirmation",
    "temp_hold",
    "unsubscribed",
];
/// Who made a change: the contact or the account.
pub(crate) const SOURCES: &[&str] = &["Contact", "Account"];

/// Every sub-resource, as write responses include them.
pub(crate) fn all_includes() -> Vec<String> {
    INCLUDES.iter().map(|s| (*s).to_owned()).collect()
}

/// A contact's SMS channel as the API shows it.
pub(crate) fn sms_json(sms: &SmsChannel) -> Value {
    let consents: Vec<Value> = sms
        .consents
        .iter()
        .map(|c| {
            let mut out = Map::new();
            out.insert("sms_consent_permission".into(), json!(c.permission));
            out.insert("consent_type".into(), json!(c.consent_type));
            if let Some(at) = c.opt_in_date {
                out.insert("opt_in_date".into(), json!(format_ms(at)));
            }
            if let Some(at) = c.opt_out_date {
                out.insert("opt_out_date".into(), json!(format_ms(at)));
            }
            if let Some(v) = &c.advertised_frequency {
                out.insert("advertised_frequency".into(), json!(v));
            }
            if let Some(v) = &c.advertised_interval {
                out.insert("advertised_interval".into(), json!(v));
            }
            out.insert("created_at".into(), json!(format_ms(c.created_at)));
            out.insert("updated_at".into(), json!(format_ms(c.updated_at)));
            Value::Object(out)
        })
        .collect();
    json!({
        "sms_channel_id": sms.id,
        "sms_address": sms.address,
        "dial_code": sms.dial_code,
        "country_code": sms.country_code,
        "update_source": sms.update_source,
        "create_source": sms.create_source,
        "sms_channel_consents": consents,
    })
}

/// Which sub-resources a response includes.
fn parse_include(text: Option<&String>) -> Result<Vec<String>, ApiError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            if INCLUDES.contains(&item) {
                Ok(item.to_owned())
            } else {
                Err(ApiError::validation(format!(
                    "include: `{item}` is not one of {}.",
                    INCLUDES.join(", ")
                )))
            }
        })
        .collect()
}

/// A contact as the API shows it, with the requested sub-resources.
pub(crate) fn contact_json(contact: &Contact, include: &[String]) -> Value {
    let mut out = Map::new();
    out.insert("contact_id".into(), json!(contact.id));
    if let Some(email) = &contact.email {
        let mut e = Map::new();
        e.insert("address".into(), json!(email.address));
        e.insert("permission_to_send".into(), json!(email.permission_to_send));
        e.insert("created_at".into(), json!(format_ms(email.created_at)));
        e.insert("updated_at".into(), json!(format_ms(email.updated_at)));
        if let Some(v) = &email.opt_in_source {
            e.insert("opt_in_source".into(), json!(v));
        }
        if let Some(v) = email.opt_in_date {
            e.insert("opt_in_date".into(), json!(format_ms(v)));
        }
        if let Some(v) = &email.opt_out_source {
            e.insert("opt_out_source".into(), json!(v));
        }
        if let Some(v) = email.opt_out_date {
            e.insert("opt_out_date".into(), json!(format_ms(v)));
        }
        if let Some(v) = &email.opt_out_reason {
            e.insert("opt_out_reason".into(), json!(v));
        }
        e.insert("confirm_status".into(), json!(email.confirm_status));
        out.insert("email_address".into(), Value::Object(e));
    }
    for (name, value) in [
        ("first_name", &contact.first_name),
        ("last_name", &contact.last_name),
        ("job_title", &contact.job_title),
        ("company_name", &contact.company_name),
        ("anniversary", &contact.anniversary),
    ] {
        if let Some(value) = value {
            out.insert(name.into(), json!(value));
        }
    }
    if let Some(month) = contact.birthday_month {
        out.insert("birthday_month".into(), json!(month));
    }
    if let Some(day) = contact.birthday_day {
        out.insert("birthday_day".into(), json!(day));
    }
    out.insert("create_source".into(), json!(contact.create_source));
    out.insert("update_source".into(), json!(contact.update_source));
    out.insert("created_at".into(), json!(format_ms(contact.created_at)));
    out.insert("updated_at".into(), json!(format_ms(contact.updated_at)));
    if let Some(deleted) = contact.deleted_at {
        out.insert("deleted_at".into(), json!(format_date(deleted)));
    }
    // Not an `include` option in the spec: the channel comes with every contact that has one.
    if let Some(sms) = &contact.sms {
        out.insert("sms_channel".into(), sms_json(sms));
    }
    for item in include {
        let value = match item.as_str() {
            "custom_fields" => contact
                .custom_fields
                .iter()
                .map(|(id, value)| json!({"custom_field_id": id, "value": value}))
                .collect(),
            "list_memberships" => json!(contact.list_memberships),
            "taggings" => json!(contact.taggings),
            "phone_numbers" => contact
                .phone_numbers
                .iter()
                .map(|p| {
                    json!({"phone_number_id": p.id, "phone_number": p.number, "kind": p.kind,
                           "created_at": format_ms(p.created_at), "updated_at": format_ms(p.updated_at),
                           "update_source": p.update_source, "create_source": p.create_source})
                })
                .collect(),
            "street_addresses" => contact
                .street_addresses
                .iter()
                .map(|a| {
                    let mut m = Map::new();
                    m.insert("street_address_id".into(), json!(a.id));
                    m.insert("kind".into(), json!(a.kind));
                    for (name, value) in [
                        ("street", &a.street),
                        ("city", &a.city),
                        ("state", &a.state),
                        ("postal_code", &a.postal_code),
                        ("country", &a.country),
                    ] {
                        if let Some(v) = value {
                            m.insert(name.into(), json!(v));
                        }
                    }
                    m.insert("created_at".into(), json!(format_ms(a.created_at)));
                    Value::Object(m)
                })
                .collect(),
            "notes" => contact
                .notes
                .iter()
                .map(|n| json!({"note_id": n.id, "content": n.content, "created_at": format_ms(n.created_at)}))
                .collect(),
            _ => continue,
        };
        out.insert(item.clone(), value);
    }
    Value::Object(out)
}

/// The filters of one `GET /contacts` query; carried whole in its cursor.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Filter {
    statuses: Vec<String>,
    sms_statuses: Vec<String>,
    email: Option<String>,
    lists: Vec<String>,
    segment_id: Option<i64>,
    tags: Vec<String>,
    updated_after: Option<i64>,
    updated_before: Option<i64>,
    created_after: Option<i64>,
    created_before: Option<i64>,
    include: Vec<String>,
    include_count: bool,
    limit: usize,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    f: Filter,
    after: (i64, String),
}

fn csv_ids(params: &Params, name: &str, max: usize) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = params
        .get(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if ids.len() > max {
        return Err(ApiError::validation(format!(
            "{name} accepts at most {max} ids."
        )));
    }
    Ok(ids)
}

/// A comma-separated parameter whose every value must be one of `allowed`.
fn csv_values(params: &Params, name: &str, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
    let values: Vec<String> = params
        .get(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    match values.iter().find(|v| !allowed.contains(&v.as_str())) {
        Some(bad) => Err(ApiError::validation(format!(
            "{name}: `{bad}` is not one of {}.",
            allowed.join(", ")
        ))),
        None => Ok(values),
    }
}

fn date_param(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            parse_iso(v).ok_or_else(|| {
                ApiError::validation(format!("{name} must be an ISO-8601 date or date-time."))
            })
        })
        .transpose()
}

impl Filter {
    fn from_params(params: &Params) -> Result<Self, ApiError> {
        let statuses = csv_values(params, "status", STATUSES)?;
        let sms_statuses = csv_values(params, "sms_status", SMS_STATUSES)?;
        let segment_id = params
            .get("segment_id")
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::validation("segment_id must be an integer."))
            })
            .transpose()?;
        Ok(Self {
            statuses,
            sms_statuses,
            email: params.get("email").cloned(),
            lists: csv_ids(params, "lists", 25)?,
            segment_id,
            tags: csv_ids(params, "tags", 50)?,
            updated_after: date_param(params, "updated_after")?,
            updated_before: date_param(params, "updated_before")?,
            created_after: date_param(params, "created_after")?,
            created_before: date_param(params, "created_before")?,
            include: parse_include(params.get("include"))?,
            include_count: flag(params, "include_count")?,
            limit: super::limit(params, 50, 500)?,
        })
    }

    fn matches(&self, contact: &Contact, segment: Option<&Prepared>) -> bool {
        let status_ok = |status: &str| match status {
            "all" => true,
            "active" => {
                contact.deleted_at.is_none()
                    && !matches!(contact.status(), "unsubscribed" | "temp_hold")
            }
            status => contact.status() == status,
        };
        let status_ok = if self.statuses.is_empty() {
            contact.deleted_at.is_none()
        } else {
            self.statuses.iter().any(|s| status_ok(s))
        };
        let sms_ok = self.sms_statuses.is_empty()
            || self
                .sms_statuses
                .iter()
                .any(|s| s == "all" || contact.sms_status() == s);
        status_ok
            && sms_ok
            && (self.lists.is_empty()
                || self
                    .lists
                    .iter()
                    .any(|l| contact.list_memberships.contains(l)))
            && (self.tags.is_empty() || self.tags.iter().any(|t| contact.taggings.contains(t)))
            && segment.is_none_or(|s| s.matches(contact))
            && self.email.as_ref().is_none_or(|e| {
                contact
                    .email
                    .as_ref()
                    .is_some_and(|a| a.address.eq_ignore_ascii_case(e))
            })
            && self.updated_after.is_none_or(|t| contact.updated_at > t)
            && self.updated_before.is_none_or(|t| contact.updated_at < t)
            && self.created_after.is_none_or(|t| contact.created_at > t)
            && self.created_before.is_none_or(|t| contact.created_at < t)
    }
}

/// The contacts of segment `id` (deleted segments select no one).
pub(crate) fn segment_members(store: &Store, id: i64) -> Result<Prepared, ApiError> {
    let segment = store
        .segments
        .iter()
        .find(|s| s.id == id && s.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("segment"))?;
    Criteria::parse(&segment.criteria)
        .map(|c| c.prepare(store))
        .map_err(ApiError::validation)
}

/// `GET /contacts`.
pub(crate) async fn list(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let (filter, after) = match params.get("cursor") {
        Some(cursor) => {
            let state: Cursor = decode_cursor(cursor)
                .ok_or_else(|| ApiError::validation("The cursor is invalid."))?;
            (state.f, Some(state.after))
        }
        None => (Filter::from_params(&params)?, None),
    };
    let store = lock(&shared.store);
    let segment = match filter.segment_id {
        None => None,
        Some(id) => Some(segment_members(&store, id)?),
    };
    let segment_list = segment.as_ref();
    let mut found: Vec<&Contact> = Vec::with_capacity(filter.limit + 1);
    if let Some(email) = &filter.email {
        // The email index answers at once; there is at most one match.
        if let Some(id) = store.contact_id_by_email(email)
            && let Some(contact) = store.contacts.get(id)
            && after
                .as_ref()
                .is_none_or(|a| (contact.updated_at, &contact.id) > (a.0, &a.1))
            && filter.matches(contact, segment_list)
        {
            found.push(contact);
        }
    } else {
        let lower = match (&after, filter.updated_after) {
            (Some(key), _) => Bound::Excluded(key.clone()),
            (None, Some(t)) => Bound::Included((t.saturating_add(1), String::new())),
            (None, None) => Bound::Unbounded,
        };
        for (updated_at, id) in store.by_updated.range((lower, Bound::Unbounded)) {
            if filter.updated_before.is_some_and(|t| *updated_at >= t) {
                break;
            }
            if let Some(contact) = store.contacts.get(id)
                && filter.matches(contact, segment_list)
            {
                found.push(contact);
                if found.len() > filter.limit {
                    break;
                }
            }
        }
    }
    let has_more = found.len() > filter.limit;
    found.truncate(filter.limit);
    let mut body = Map::new();
    body.insert(
        "contacts".into(),
        found
            .iter()
            .map(|c| contact_json(c, &filter.include))
            .collect(),
    );
    if has_more && let Some(last) = found.last() {
        let cursor = encode_cursor(&Cursor {
            f: filter.clone(),
            after: (last.updated_at, last.id.clone()),
        });
        body.insert(
            "_links".into(),
            json!({"next": {"href": format!("/v3/contacts?cursor={cursor}")}}),
        );
    }
    if filter.include_count {
        let count = store
            .contacts
            .values()
            .filter(|c| filter.matches(c, segment_list))
            .count();
        body.insert("contacts_count".into(), json!(count));
    }
    Ok(json(StatusCode::OK, Value::Object(body)))
}

/// `GET /contacts/{contact_id}`.
pub(crate) async fn get_one(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult {
    let include = parse_include(params.get("include"))?;
    let store = lock(&shared.store);
    let contact = store
        .contacts
        .get(&id)
        .ok_or_else(|| ApiError::not_found("contact"))?;
    Ok(json(StatusCode::OK, contact_json(contact, &include)))
}

/// `DELETE /contacts/{contact_id}`: 204; the contact is kept as deleted.
pub(crate) async fn delete(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    if store
        .contacts
        .get(&id)
        .is_none_or(|c| c.deleted_at.is_some())
    {
        return Err(ApiError::not_found("contact"));
    }
    let now = store.tick();
    store.update_contact(&id, |c| c.deleted_at = Some(now));
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /contacts/counts`: contacts by email consent.
pub(crate) async fn counts(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let include: HashSet<&str> = params
        .get("include")
        .map(|v| v.split(',').collect())
        .unwrap_or_default();
    if let Some(bad) = include.iter().find(|i| **i != "new_subscriber") {
        return Err(ApiError::validation(format!(
            "include: `{bad}` is not valid."
        )));
    }
    let store = lock(&shared.store);
    let recent = crate::util::now_ms() - 30 * 86_400_000;
    let (mut total, mut explicit, mut implicit, mut pending, mut unsubscribed, mut new) =
        (0, 0, 0, 0, 0, 0);
    for contact in store.contacts.values().filter(|c| c.deleted_at.is_none()) {
        total += 1;
        match contact.status() {
            "explicit" => explicit += 1,
            "implicit" => implicit += 1,
            "pending_confirmation" => pending += 1,
            "unsubscribed" => unsubscribed += 1,
            _ => {}
        }
        if contact.created_at >= recent {
            new += 1;
        }
    }
    let mut body = json!({"total": total, "explicit": explicit, "implicit": implicit,
                          "pending": pending, "unsubscribed": unsubscribed});
    if include.contains("new_subscriber") {
        body["new_subscriber"] = json!(new);
    }
    Ok(json(StatusCode::OK, body))
}

#[derive(Deserialize)]
struct ResubscribeIn {
    list_ids: Option<Vec<String>>,
}

/// `PUT /contacts/resubscribe/{contact_id}`: sends the unsubscribed contact a confirmation email
/// (once per contact: 409 for a second one) and adds it to `list_ids`; until it confirms, its
/// permission is `pending_confirmation`. 200 without a body.
pub(crate) async fn resubscribe(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: ResubscribeIn = parse_body(&body)?;
    let lists = input
        .list_ids
        .ok_or_else(|| ApiError::validation("list_ids is required."))?;
    if lists.is_empty() || lists.len() > 50 {
        return Err(ApiError::validation("list_ids requires 1 to 50 list ids."));
    }
    let mut store = lock(&shared.store);
    if let Some(unknown) = store.unknown_lists(&lists).first() {
        return Err(ApiError::validation(format!(
            "list_ids: `{unknown}` does not exist."
        )));
    }
    let contact = store
        .contacts
        .get(&id)
        .filter(|c| c.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let Some(email) = &contact.email else {
        return Err(ApiError::validation(
            "The contact has no email address to send a resubscribe email to.",
        ));
    };
    if email.resubscribe_requested {
        return Err(ApiError::conflict(
            "A resubscribe email was already sent to this contact; it can be sent only once.",
        ));
    }
    if email.permission_to_send != "unsubscribed" {
        return Err(ApiError::validation(
            "Only an unsubscribed contact can be sent a resubscribe email.",
        ));
    }
    let now = store.tick();
    store.update_contact(&id, |c| {
        if let Some(email) = &mut c.email {
            email.permission_to_send = "pending_confirmation".into();
            email.confirm_status = "pending".into();
            email.resubscribe_requested = true;
            email.updated_at = now;
        }
        for list in lists {
            if !c.list_memberships.contains(&list) && c.list_memberships.len() < 50 {
                c.list_memberships.push(list);
            }
        }
        c.update_source = "Account".into();
    });
    Ok(StatusCode::OK.into_response())
}
