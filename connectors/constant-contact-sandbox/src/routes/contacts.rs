//! `/contacts`: list (filters, cursor paging over the `(updated_at, id)` index), get, create
//! (409 on an existing email), PUT (replace), delete, `sign_up_form` upsert and consent counts.

use std::collections::HashSet;
use std::ops::Bound;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Params, check_len, flag, json};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::{Address, Contact, EmailAddr, Note, Phone, Store};
use crate::util::{decode_cursor, encode_cursor, format_date, format_ms, parse_iso};

const INCLUDES: &[&str] = &[
    "custom_fields",
    "list_memberships",
    "phone_numbers",
    "street_addresses",
    "taggings",
    "notes",
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
const PERMISSIONS: &[&str] = &[
    "explicit",
    "implicit",
    "not_set",
    "pending_confirmation",
    "temp_hold",
    "unsubscribed",
];
const SOURCES: &[&str] = &["Contact", "Account"];

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
                           "created_at": format_ms(p.created_at), "update_source": contact.update_source,
                           "create_source": contact.create_source})
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
    status: Option<String>,
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
        let status = params.get("status").cloned();
        if let Some(status) = &status
            && !STATUSES.contains(&status.as_str())
        {
            return Err(ApiError::validation(format!(
                "status: `{status}` is not a valid status."
            )));
        }
        let segment_id = params
            .get("segment_id")
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::validation("segment_id must be an integer."))
            })
            .transpose()?;
        Ok(Self {
            status,
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

    fn matches(&self, contact: &Contact, segment_list: Option<&str>) -> bool {
        let status_ok = match self.status.as_deref() {
            None => contact.deleted_at.is_none(),
            Some("all") => true,
            Some("active") => {
                contact.deleted_at.is_none()
                    && !matches!(contact.status(), "unsubscribed" | "temp_hold")
            }
            Some(status) => contact.status() == status,
        };
        status_ok
            && (self.lists.is_empty()
                || self
                    .lists
                    .iter()
                    .any(|l| contact.list_memberships.contains(l)))
            && (self.tags.is_empty() || self.tags.iter().any(|t| contact.taggings.contains(t)))
            && segment_list.is_none_or(|l| {
                contact.deleted_at.is_none() && contact.list_memberships.iter().any(|m| m == l)
            })
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
    let segment_list = match filter.segment_id {
        None => None,
        Some(id) => Some(
            store
                .segments
                .iter()
                .find(|s| s.id == id)
                .ok_or_else(|| ApiError::not_found("segment"))?
                .list_id
                .clone()
                .unwrap_or_default(),
        ),
    };
    let segment_list = segment_list.as_deref();
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

#[derive(Deserialize)]
struct EmailIn {
    address: String,
    permission_to_send: Option<String>,
}

#[derive(Deserialize)]
struct PhoneIn {
    phone_number: String,
    kind: Option<String>,
}

#[derive(Deserialize)]
struct AddressIn {
    kind: String,
    street: Option<String>,
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

#[derive(Deserialize)]
struct FieldIn {
    custom_field_id: String,
    value: Option<String>,
}

#[derive(Deserialize)]
struct NoteIn {
    content: Option<String>,
}

/// The body of `POST /contacts` and `PUT /contacts/{id}`.
#[derive(Deserialize)]
struct ContactIn {
    email_address: Option<EmailIn>,
    first_name: Option<String>,
    last_name: Option<String>,
    job_title: Option<String>,
    company_name: Option<String>,
    create_source: Option<String>,
    update_source: Option<String>,
    birthday_month: Option<i64>,
    birthday_day: Option<i64>,
    anniversary: Option<String>,
    custom_fields: Option<Vec<FieldIn>>,
    phone_numbers: Option<Vec<PhoneIn>>,
    street_addresses: Option<Vec<AddressIn>>,
    list_memberships: Option<Vec<String>>,
    taggings: Option<Vec<String>>,
    notes: Option<Vec<NoteIn>>,
    sms_channel: Option<Value>,
}

fn check_email(address: &str, max: usize) -> Result<(), ApiError> {
    check_len("email_address", Some(address), max)?;
    let valid = address
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "email_address `{address}` is not a valid email address."
        )))
    }
}

fn check_ids(store: &Store, name: &str, ids: &[String], max: usize) -> Result<(), ApiError> {
    if ids.len() > max {
        return Err(ApiError::validation(format!(
            "{name} accepts at most {max} items."
        )));
    }
    let known = |id: &String| match name {
        "list_memberships" | "list_ids" => store.list(id).is_some(),
        "taggings" => store.tags.iter().any(|t| &t.id == id),
        _ => store.custom_fields.iter().any(|f| &f.id == id),
    };
    match ids.iter().find(|id| !known(id)) {
        Some(id) => Err(ApiError::array(
            StatusCode::BAD_REQUEST,
            "api.validation.error",
            format!("{name}: `{id}` does not exist."),
        )),
        None => Ok(()),
    }
}

fn check_birthday(month: Option<i64>, day: Option<i64>) -> Result<(), ApiError> {
    if month.is_some_and(|m| !(1..=12).contains(&m)) || day.is_some_and(|d| !(1..=31).contains(&d))
    {
        return Err(ApiError::validation(
            "birthday_month must be 1-12 and birthday_day 1-31.",
        ));
    }
    Ok(())
}

impl ContactIn {
    fn validate(&self, store: &Store) -> Result<(), ApiError> {
        if self.email_address.is_none() && self.sms_channel.is_none() {
            return Err(ApiError::validation(
                "Either email_address or sms_channel is required.",
            ));
        }
        if let Some(email) = &self.email_address {
            check_email(&email.address, 80)?;
            if let Some(p) = &email.permission_to_send
                && !PERMISSIONS.contains(&p.as_str())
            {
                return Err(ApiError::validation(format!(
                    "permission_to_send: `{p}` is not valid."
                )));
            }
        }
        for (name, value) in [
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("job_title", &self.job_title),
            ("company_name", &self.company_name),
        ] {
            check_len(name, value.as_deref(), 50)?;
        }
        check_len("anniversary", self.anniversary.as_deref(), 10)?;
        check_birthday(self.birthday_month, self.birthday_day)?;
        if self.phone_numbers.as_ref().is_some_and(|p| p.len() > 3) {
            return Err(ApiError::validation(
                "A contact can have at most 3 phone numbers.",
            ));
        }
        for phone in self.phone_numbers.iter().flatten() {
            check_len("phone_number", Some(&phone.phone_number), 25)?;
        }
        if self.street_addresses.as_ref().is_some_and(|a| a.len() > 3) {
            return Err(ApiError::validation(
                "A contact can have at most 3 street addresses.",
            ));
        }
        for address in self.street_addresses.iter().flatten() {
            if !matches!(address.kind.as_str(), "home" | "work" | "other") {
                return Err(ApiError::validation(
                    "street_addresses.kind must be home, work or other.",
                ));
            }
        }
        check_ids(
            store,
            "list_memberships",
            self.list_memberships.as_deref().unwrap_or_default(),
            50,
        )?;
        check_ids(
            store,
            "taggings",
            self.taggings.as_deref().unwrap_or_default(),
            50,
        )?;
        let fields: Vec<String> = self
            .custom_fields
            .iter()
            .flatten()
            .map(|f| f.custom_field_id.clone())
            .collect();
        check_ids(store, "custom_fields", &fields, 25)?;
        for field in self.custom_fields.iter().flatten() {
            check_len("custom_fields.value", field.value.as_deref(), 255)?;
        }
        Ok(())
    }

    /// Writes the body's top-level fields over `contact` (absent ones become empty) and replaces
    /// the sub-resources the body carries.
    fn apply(self, contact: &mut Contact, store_rng: &mut fastrand::Rng, now: i64) {
        if let Some(email) = self.email_address {
            let permission = email.permission_to_send.unwrap_or_else(|| {
                contact
                    .email
                    .as_ref()
                    .map_or_else(|| "implicit".into(), |e| e.permission_to_send.clone())
            });
            let created_at = contact.email.as_ref().map_or(now, |e| e.created_at);
            let unsubscribed = permission == "unsubscribed";
            contact.email = Some(EmailAddr {
                address: email.address,
                opt_in_source: Some("Account".into()),
                opt_in_date: Some(now),
                opt_out_source: unsubscribed.then(|| "Account".into()),
                opt_out_date: unsubscribed.then_some(now),
                opt_out_reason: None,
                permission_to_send: permission,
                confirm_status: "off".into(),
                created_at,
                updated_at: now,
            });
        }
        contact.first_name = self.first_name;
        contact.last_name = self.last_name;
        contact.job_title = self.job_title;
        contact.company_name = self.company_name;
        contact.birthday_month = self.birthday_month;
        contact.birthday_day = self.birthday_day;
        contact.anniversary = self.anniversary;
        if let Some(fields) = self.custom_fields {
            contact.custom_fields = fields
                .into_iter()
                .map(|f| (f.custom_field_id, f.value.unwrap_or_default()))
                .collect();
        }
        if let Some(phones) = self.phone_numbers {
            contact.phone_numbers = phones
                .into_iter()
                .map(|p| Phone {
                    id: crate::util::uuid(store_rng),
                    number: p.phone_number,
                    kind: p.kind.unwrap_or_else(|| "other".into()),
                    created_at: now,
                })
                .collect();
        }
        if let Some(addresses) = self.street_addresses {
            contact.street_addresses = addresses
                .into_iter()
                .map(|a| Address {
                    id: crate::util::uuid(store_rng),
                    kind: a.kind,
                    street: a.street,
                    city: a.city,
                    state: a.state,
                    postal_code: a.postal_code,
                    country: a.country,
                    created_at: now,
                })
                .collect();
        }
        if let Some(lists) = self.list_memberships {
            contact.list_memberships = lists;
        }
        if let Some(tags) = self.taggings {
            contact.taggings = tags;
        }
        if let Some(notes) = self.notes {
            contact.notes = notes
                .into_iter()
                .map(|n| Note {
                    id: crate::util::uuid(store_rng),
                    content: n.content.unwrap_or_default(),
                    created_at: now,
                })
                .collect();
        }
    }
}

const ALL_INCLUDES: fn() -> Vec<String> = || INCLUDES.iter().map(|s| (*s).to_owned()).collect();

/// `POST /contacts`: 201 with the new contact; 409 when the email belongs to a contact.
pub(crate) async fn create(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: ContactIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    input.validate(&store)?;
    let source = input
        .create_source
        .clone()
        .ok_or_else(|| ApiError::validation("create_source is required."))?;
    if !SOURCES.contains(&source.as_str()) {
        return Err(ApiError::validation(
            "create_source must be Contact or Account.",
        ));
    }
    let existing = input
        .email_address
        .as_ref()
        .and_then(|e| store.contact_id_by_email(&e.address))
        .cloned();
    let now = store.tick();
    let id = match existing {
        Some(id)
            if store
                .contacts
                .get(&id)
                .is_some_and(|c| c.deleted_at.is_none()) =>
        {
            return Err(ApiError::conflict(
                "Validation failed: Email already exists for contact.",
            ));
        }
        // A deleted contact with this email is revived with the new data.
        Some(id) => {
            let mut rng = store.rng.clone();
            store.update_contact(&id, |c| {
                c.deleted_at = None;
                c.update_source = source.clone();
                input.apply(c, &mut rng, now);
            });
            store.rng = rng;
            id
        }
        None => {
            let id = store.new_id();
            let mut contact = Contact {
                id: id.clone(),
                create_source: source.clone(),
                update_source: source,
                created_at: now,
                updated_at: now,
                ..Contact::default()
            };
            let mut rng = store.rng.clone();
            input.apply(&mut contact, &mut rng, now);
            store.rng = rng;
            store.insert_contact(contact);
            id
        }
    };
    let contact = &store.contacts[&id];
    Ok(json(
        StatusCode::CREATED,
        contact_json(contact, &ALL_INCLUDES()),
    ))
}

/// `PUT /contacts/{contact_id}`: replaces the contact (requires `update_source`); revives a
/// deleted one.
pub(crate) async fn put(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: ContactIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    if !store.contacts.contains_key(&id) {
        return Err(ApiError::not_found("contact"));
    }
    input.validate(&store)?;
    let source = input
        .update_source
        .clone()
        .ok_or_else(|| ApiError::validation("update_source is required."))?;
    if !SOURCES.contains(&source.as_str()) {
        return Err(ApiError::validation(
            "update_source must be Contact or Account.",
        ));
    }
    if let Some(email) = &input.email_address
        && let Some(owner) = store.contact_id_by_email(&email.address)
        && *owner != id
    {
        return Err(ApiError::conflict(
            "Validation failed: Email already exists for contact.",
        ));
    }
    let now = store.tick();
    let mut rng = store.rng.clone();
    let contact = store
        .update_contact(&id, |c| {
            c.deleted_at = None;
            c.update_source = source;
            input.apply(c, &mut rng, now);
        })
        .map(|c| contact_json(c, &ALL_INCLUDES()));
    store.rng = rng;
    let contact = contact.ok_or_else(|| ApiError::not_found("contact"))?;
    Ok(json(StatusCode::OK, contact))
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

#[derive(Deserialize)]
struct SignUpAddress {
    kind: String,
    street: Option<String>,
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

/// The body of `POST /contacts/sign_up_form`.
#[derive(Deserialize)]
struct SignUpIn {
    email_address: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    job_title: Option<String>,
    company_name: Option<String>,
    phone_number: Option<String>,
    list_memberships: Option<Vec<String>>,
    custom_fields: Option<Vec<FieldIn>>,
    anniversary: Option<String>,
    birthday_month: Option<i64>,
    birthday_day: Option<i64>,
    street_address: Option<SignUpAddress>,
    sms_channel: Option<Value>,
}

/// `POST /contacts/sign_up_form`: creates (201) or partially updates (200) the contact with this
/// email; lists and custom fields are appended.
pub(crate) async fn sign_up_form(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: SignUpIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let Some(email) = input.email_address.clone() else {
        return Err(ApiError::validation(if input.sms_channel.is_some() {
            "The sandbox supports sign-ups by email_address only."
        } else {
            "Either email_address or sms_channel is required."
        }));
    };
    check_email(&email, 50)?;
    let lists = input.list_memberships.clone().unwrap_or_default();
    if lists.is_empty() {
        return Err(ApiError::validation(
            "list_memberships requires 1 to 50 list ids.",
        ));
    }
    check_ids(&store, "list_memberships", &lists, 50)?;
    let fields: Vec<String> = input
        .custom_fields
        .iter()
        .flatten()
        .map(|f| f.custom_field_id.clone())
        .collect();
    check_ids(&store, "custom_fields", &fields, 50)?;
    for (name, value) in [
        ("first_name", &input.first_name),
        ("last_name", &input.last_name),
        ("job_title", &input.job_title),
        ("company_name", &input.company_name),
    ] {
        check_len(name, value.as_deref(), 50)?;
    }
    check_len("phone_number", input.phone_number.as_deref(), 25)?;
    check_birthday(input.birthday_month, input.birthday_day)?;
    let now = store.tick();
    let mut rng = store.rng.clone();
    let apply = move |c: &mut Contact, rng: &mut fastrand::Rng| {
        let set = |target: &mut Option<String>, value: Option<String>| {
            if value.is_some() {
                *target = value;
            }
        };
        set(&mut c.first_name, input.first_name);
        set(&mut c.last_name, input.last_name);
        set(&mut c.job_title, input.job_title);
        set(&mut c.company_name, input.company_name);
        set(&mut c.anniversary, input.anniversary);
        if input.birthday_month.is_some() {
            c.birthday_month = input.birthday_month;
        }
        if input.birthday_day.is_some() {
            c.birthday_day = input.birthday_day;
        }
        for list in lists {
            if !c.list_memberships.contains(&list) {
                c.list_memberships.push(list);
            }
        }
        for field in input.custom_fields.into_iter().flatten() {
            let value = field.value.unwrap_or_default();
            match c
                .custom_fields
                .iter_mut()
                .find(|(id, _)| *id == field.custom_field_id)
            {
                Some(existing) => existing.1 = value,
                None => c.custom_fields.push((field.custom_field_id, value)),
            }
        }
        if let Some(number) = input.phone_number
            && c.phone_numbers.len() < 3
        {
            c.phone_numbers.push(Phone {
                id: crate::util::uuid(rng),
                number,
                kind: "other".into(),
                created_at: now,
            });
        }
        if let Some(a) = input.street_address
            && c.street_addresses.len() < 3
        {
            c.street_addresses.push(Address {
                id: crate::util::uuid(rng),
                kind: a.kind,
                street: a.street,
                city: a.city,
                state: a.state,
                postal_code: a.postal_code,
                country: a.country,
                created_at: now,
            });
        }
        c.deleted_at = None;
        c.update_source = "Contact".into();
        if let Some(e) = &mut c.email {
            e.permission_to_send = "explicit".into();
            e.opt_in_source = Some("Contact".into());
            e.opt_in_date = Some(now);
            e.opt_out_source = None;
            e.opt_out_date = None;
            e.opt_out_reason = None;
            e.updated_at = now;
        }
    };
    let (status, id, action) = match store.contact_id_by_email(&email).cloned() {
        Some(id) => {
            store.update_contact(&id, |c| apply(c, &mut rng));
            (StatusCode::OK, id, "updated")
        }
        None => {
            // From the local generator, which replaces the store's at the end: `store.new_id()`
            // would advance the store's and be undone, giving every sign-up the same id.
            let id = crate::util::uuid(&mut rng);
            let mut contact = Contact {
                id: id.clone(),
                email: Some(EmailAddr {
                    address: email,
                    permission_to_send: "explicit".into(),
                    opt_in_source: Some("Contact".into()),
                    opt_in_date: Some(now),
                    opt_out_source: None,
                    opt_out_date: None,
                    opt_out_reason: None,
                    confirm_status: "off".into(),
                    created_at: now,
                    updated_at: now,
                }),
                create_source: "Contact".into(),
                update_source: "Contact".into(),
                created_at: now,
                updated_at: now,
                ..Contact::default()
            };
            apply(&mut contact, &mut rng);
            store.insert_contact(contact);
            (StatusCode::CREATED, id, "created")
        }
    };
    store.rng = rng;
    Ok(json(status, json!({"contact_id": id, "action": action})))
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
