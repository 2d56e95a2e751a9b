//! `POST /activities/contacts_json_import`: creates or updates every row's contact (matched by
//! email address, else by SMS number) and adds it to `list_ids`.

use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::activities::{check_lists, created};
use super::contact_writes::{new_sms_channel, us_sms_number};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::{Address, Contact, EmailAddr, Phone, SmsConsent};

/// Most contacts one JSON import may carry.
pub const MAX_IMPORT_CONTACTS: usize = 40_000;
/// The JSON import's payload limit (4 MB).
pub const MAX_IMPORT_BYTES: usize = 4 * 1024 * 1024;

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
                Some(phone) => {
                    phone.number = number;
                    phone.updated_at = now;
                    phone.update_source = "Account".into();
                }
                None if count < 3 => contact.phone_numbers.push(Phone {
                    id: crate::util::uuid(rng),
                    number,
                    kind: kind.into(),
                    created_at: now,
                    updated_at: now,
                    create_source: "Account".into(),
                    update_source: "Account".into(),
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
    sms_permission_to_send: Option<String>,
}

/// What identifies an imported row's contact: its email address and/or SMS number (with the
/// consent the import gives it).
struct RowKey {
    email: Option<String>,
    /// The full number (dial code and number) and the consent permission.
    sms: Option<(String, String)>,
}

impl RowKey {
    /// Gives the contact the row's email address (new ones are `implicit`, as the service
    /// does) and SMS number.
    fn apply(
        &self,
        contact: &mut Contact,
        rng: &mut fastrand::Rng,
        now: i64,
    ) -> Result<(), String> {
        if let Some(address) = &self.email
            && contact.email.is_none()
        {
            contact.email = Some(EmailAddr {
                address: address.clone(),
                permission_to_send: "implicit".into(),
                opt_in_source: Some("Account".into()),
                opt_in_date: Some(now),
                opt_out_source: None,
                opt_out_date: None,
                opt_out_reason: None,
                confirm_status: "off".into(),
                created_at: now,
                updated_at: now,
                resubscribe_requested: false,
            });
        }
        if let Some((full, permission)) = &self.sms {
            let (dial, national) = full.split_at(1);
            let consent = SmsConsent {
                permission: permission.clone(),
                consent_type: "promotional_sms".into(),
                opt_in_date: (permission == "explicit").then_some(now),
                opt_out_date: (permission == "unsubscribed").then_some(now),
                advertised_frequency: None,
                advertised_interval: None,
                created_at: now,
                updated_at: now,
            };
            contact.sms = Some(new_sms_channel(
                contact.sms.as_ref(),
                (dial.to_owned(), national.to_owned()),
                vec![consent],
                "Account",
                rng,
            ));
        }
        Ok(())
    }
}

/// The row's email address and SMS number, checked; `None` when it has neither.
fn row_key(row: &Map<String, Value>, sms_permission: &str) -> Option<Result<RowKey, String>> {
    let email = text(row, "email");
    let sms = text(row, "sms_number");
    if email.is_none() && sms.is_none() {
        return None;
    }
    if let Some(email) = &email {
        let valid = email.len() <= 80
            && email
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
        if !valid {
            return Some(Err(format!("`{email}` is not a valid email address")));
        }
    }
    let sms = match sms {
        None => None,
        Some(number) => {
            let digits: String = number.chars().filter(char::is_ascii_digit).collect();
            let full = if digits.len() == 10 {
                format!("1{digits}")
            } else {
                digits
            };
            match us_sms_number("sms_number", &full) {
                Ok((dial, national)) => {
                    Some((format!("{dial}{national}"), sms_permission.to_owned()))
                }
                Err(_) => {
                    return Some(Err(format!(
                        "sms_number `{number}` is not a US number (10 digits, or 1 and 10 digits)"
                    )));
                }
            }
        }
    };
    Some(Ok(RowKey { email, sms }))
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
    let sms_permission = input
        .sms_permission_to_send
        .unwrap_or_else(|| "not_set".into());
    import_rows(&shared, &rows, &list_ids, &sms_permission)
}

/// Creates or updates every row's contact and adds it to `list_ids`, as one import activity
/// whose errors name the failed rows by line (1 for the first row). Shared by the JSON and the
/// CSV file import, which differ only in how the rows arrive.
pub(crate) fn import_rows(
    shared: &AppState,
    rows: &[Map<String, Value>],
    list_ids: &[String],
    sms_permission: &str,
) -> ApiResult {
    if !matches!(
        sms_permission,
        "explicit" | "pending_confirmation" | "unsubscribed" | "not_set"
    ) {
        return Err(ApiError::validation(format!(
            "sms_permission_to_send `{sms_permission}` is not one of explicit, pending_confirmation, unsubscribed, not_set."
        )));
    }
    let mut store = lock(&shared.store);
    check_lists(&store, list_ids, 50)?;
    let fields: Vec<(String, String)> = store
        .custom_fields
        .iter()
        .map(|f| (f.id.clone(), f.name.clone()))
        .collect();
    let mut rng = store.rng.clone();
    let mut errors = Vec::new();
    let mut imported = 0;
    for (line, row) in rows.iter().enumerate() {
        let key = match row_key(row, sms_permission) {
            Some(Ok(key)) => key,
            Some(Err(message)) => {
                errors.push(format!("line {}: {message}", line + 1));
                continue;
            }
            None => {
                errors.push(format!(
                    "line {}: email or sms_number is required",
                    line + 1
                ));
                continue;
            }
        };
        let now = store.tick();
        let existing = match &key.email {
            Some(email) => store.contact_id_by_email(email).cloned(),
            None => None,
        }
        .or_else(|| {
            key.sms
                .as_ref()
                .and_then(|(full, _)| store.contact_id_by_sms(full).cloned())
        });
        let outcome = match existing {
            Some(id) => {
                let mut result = Ok(());
                store.update_contact(&id, |c| {
                    let mut updated = c.clone();
                    result = apply_row(&mut updated, row, &fields, &mut rng, now)
                        .and_then(|()| key.apply(&mut updated, &mut rng, now));
                    if result.is_ok() {
                        updated.deleted_at = None;
                        updated.update_source = "Account".into();
                        for list in list_ids {
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
                    create_source: "Account".into(),
                    update_source: "Account".into(),
                    created_at: now,
                    updated_at: now,
                    list_memberships: list_ids.to_vec(),
                    ..Contact::default()
                };
                let result = apply_row(&mut contact, row, &fields, &mut rng, now)
                    .and_then(|()| key.apply(&mut contact, &mut rng, now));
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
