//! Writing one contact: `POST /contacts` (201; 409 when the email or SMS number belongs to a
//! contact; a deleted contact with it is revived) and `PUT /contacts/{contact_id}` (replaces the
//! top-level fields, keeps sub-resources the body leaves out). A contact needs an email address,
//! an SMS channel, or both.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::contacts::{PERMISSIONS, SOURCES, all_includes, contact_json};
use super::{check_len, json};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::{Address, Contact, EmailAddr, Note, Phone, SmsChannel, SmsConsent, Store};

/// The SMS consent permissions a client may set.
const SMS_PERMISSIONS: &[&str] = &[
    "explicit",
    "unsubscribed",
    "pending_confirmation",
    "not_set",
];

/// Splits a full SMS number (dial code and number, digits only) into `("1", national)`: the
/// sandbox, like SMS in Constant Contact, knows US numbers only.
pub(crate) fn us_sms_number(field: &str, full: &str) -> Result<(String, String), ApiError> {
    let digits = full.trim();
    match digits.strip_prefix('1') {
        Some(national) if national.len() == 10 && national.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(("1".into(), national.to_owned()))
        }
        _ => Err(ApiError::validation(format!(
            "{field} must be a US number: 1 followed by 10 digits."
        ))),
    }
}

/// One consent of an SMS channel as a client gives it.
#[derive(Clone, Deserialize)]
pub(crate) struct SmsConsentIn {
    pub sms_consent_permission: Option<String>,
    pub consent_type: Option<String>,
    pub advertised_frequency: Option<Value>,
    pub advertised_interval: Option<String>,
}

impl SmsConsentIn {
    /// The consent as stored, checked (`field` names it in errors).
    pub(crate) fn into_consent(self, field: &str, now: i64) -> Result<SmsConsent, ApiError> {
        let permission = self.sms_consent_permission.ok_or_else(|| {
            ApiError::validation(format!("{field}.sms_consent_permission is required."))
        })?;
        if !SMS_PERMISSIONS.contains(&permission.as_str()) {
            return Err(ApiError::validation(format!(
                "{field}.sms_consent_permission `{permission}` is not one of {}.",
                SMS_PERMISSIONS.join(", ")
            )));
        }
        let consent_type = self
            .consent_type
            .ok_or_else(|| ApiError::validation(format!("{field}.consent_type is required.")))?;
        if consent_type != "promotional_sms" {
            return Err(ApiError::validation(format!(
                "{field}.consent_type must be promotional_sms."
            )));
        }
        let frequency = match self.advertised_frequency {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        Ok(SmsConsent {
            opt_in_date: (permission == "explicit").then_some(now),
            opt_out_date: (permission == "unsubscribed").then_some(now),
            permission,
            consent_type,
            advertised_frequency: frequency,
            advertised_interval: self.advertised_interval,
            created_at: now,
            updated_at: now,
        })
    }
}

/// A contact's new SMS channel: the existing one's id and creation kept when the number is the
/// same.
pub(crate) fn new_sms_channel(
    existing: Option<&SmsChannel>,
    (dial_code, address): (String, String),
    consents: Vec<SmsConsent>,
    source: &str,
    rng: &mut fastrand::Rng,
) -> SmsChannel {
    match existing.filter(|s| s.address == address && s.dial_code == dial_code) {
        Some(same) => SmsChannel {
            consents,
            update_source: source.into(),
            ..same.clone()
        },
        None => SmsChannel {
            id: crate::util::uuid(rng),
            address,
            dial_code,
            country_code: "US".into(),
            create_source: source.into(),
            update_source: source.into(),
            consents,
        },
    }
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

/// A custom field value as a client gives it.
#[derive(Deserialize)]
pub(crate) struct FieldIn {
    pub custom_field_id: String,
    pub value: Option<String>,
}

/// The `sms_channel` of `POST /contacts` and `PUT /contacts/{id}`.
#[derive(Deserialize)]
struct SmsIn {
    full_sms_address: Option<String>,
    sms_channel_consents: Option<Vec<SmsConsentIn>>,
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
    sms_channel: Option<SmsIn>,
}

/// Checks an email address's length and shape.
pub(crate) fn check_email(address: &str, max: usize) -> Result<(), ApiError> {
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

/// Checks that ids of lists, tags or custom fields exist and are not too many.
pub(crate) fn check_ids(
    store: &Store,
    name: &str,
    ids: &[String],
    max: usize,
) -> Result<(), ApiError> {
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

/// Checks a birthday's month and day.
pub(crate) fn check_birthday(month: Option<i64>, day: Option<i64>) -> Result<(), ApiError> {
    if month.is_some_and(|m| !(1..=12).contains(&m)) || day.is_some_and(|d| !(1..=31).contains(&d))
    {
        return Err(ApiError::validation(
            "birthday_month must be 1-12 and birthday_day 1-31.",
        ));
    }
    Ok(())
}

impl ContactIn {
    /// The SMS number the body gives, checked.
    fn sms_number(&self) -> Result<Option<(String, String)>, ApiError> {
        let Some(sms) = &self.sms_channel else {
            return Ok(None);
        };
        let full = sms
            .full_sms_address
            .as_deref()
            .ok_or_else(|| ApiError::validation("sms_channel.full_sms_address is required."))?;
        us_sms_number("sms_channel.full_sms_address", full).map(Some)
    }

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
        if let Some(sms) = &self.sms_channel {
            self.sms_number()?;
            let consents = sms.sms_channel_consents.as_deref().unwrap_or_default();
            if consents.is_empty() {
                return Err(ApiError::validation(
                    "sms_channel.sms_channel_consents requires at least one consent.",
                ));
            }
            for (i, consent) in consents.iter().enumerate() {
                consent
                    .clone()
                    .into_consent(&format!("sms_channel.sms_channel_consents[{i}]"), 0)?;
            }
        }
        Ok(())
    }

    /// Writes the body's top-level fields over `contact` (absent ones become empty) and replaces
    /// the sub-resources the body carries. `source` is who makes the change.
    fn apply(
        mut self,
        contact: &mut Contact,
        store_rng: &mut fastrand::Rng,
        now: i64,
        source: &str,
    ) -> Result<(), ApiError> {
        if let Some(number) = self.sms_number()? {
            let consents = self
                .sms_channel
                .take()
                .and_then(|s| s.sms_channel_consents)
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    c.into_consent(&format!("sms_channel.sms_channel_consents[{i}]"), now)
                })
                .collect::<Result<Vec<_>, _>>()?;
            contact.sms = Some(new_sms_channel(
                contact.sms.as_ref(),
                number,
                consents,
                source,
                store_rng,
            ));
        }
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
                resubscribe_requested: false,
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
            let old = std::mem::take(&mut contact.phone_numbers);
            contact.phone_numbers = phones
                .into_iter()
                .map(|p| {
                    let kind = p.kind.unwrap_or_else(|| "other".into());
                    // A number the contact already had keeps its id and who added it.
                    match old.iter().find(|o| o.number == p.phone_number) {
                        Some(same) => Phone {
                            kind,
                            updated_at: now,
                            update_source: source.into(),
                            ..same.clone()
                        },
                        None => Phone {
                            id: crate::util::uuid(store_rng),
                            number: p.phone_number,
                            kind,
                            created_at: now,
                            updated_at: now,
                            create_source: source.into(),
                            update_source: source.into(),
                        },
                    }
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
        Ok(())
    }
}

/// The contact already holding the body's email address or SMS number, if any, and which of the
/// two it holds.
fn holder(store: &Store, input: &ContactIn) -> Result<Option<(String, &'static str)>, ApiError> {
    let by_email = input
        .email_address
        .as_ref()
        .and_then(|e| store.contact_id_by_email(&e.address))
        .map(|id| (id.clone(), "Email"));
    let by_sms = input
        .sms_number()?
        .and_then(|(dial, national)| store.contact_id_by_sms(&format!("{dial}{national}")))
        .map(|id| (id.clone(), "SMS number"));
    Ok(match (by_email, by_sms) {
        (Some(a), Some(b)) if a.0 != b.0 => {
            return Err(ApiError::conflict(
                "Validation failed: the email address and the SMS number belong to different contacts.",
            ));
        }
        (a, b) => a.or(b),
    })
}

/// `POST /contacts`: 201 with the new contact; 409 when the email or SMS number belongs to a
/// contact that is not deleted.
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
    let existing = holder(&store, &input)?;
    let now = store.tick();
    let id = match existing {
        Some((id, what))
            if store
                .contacts
                .get(&id)
                .is_some_and(|c| c.deleted_at.is_none()) =>
        {
            return Err(ApiError::conflict(format!(
                "Validation failed: {what} already exists for contact."
            )));
        }
        // A deleted contact with this email is revived with the new data.
        Some((id, _)) => {
            let mut rng = store.rng.clone();
            let mut outcome = Ok(());
            store.update_contact(&id, |c| {
                let mut revived = c.clone();
                revived.deleted_at = None;
                revived.update_source = source.clone();
                outcome = input.apply(&mut revived, &mut rng, now, &source);
                if outcome.is_ok() {
                    *c = revived;
                }
            });
            outcome?;
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
            let creator = contact.create_source.clone();
            input.apply(&mut contact, &mut rng, now, &creator)?;
            store.rng = rng;
            store.insert_contact(contact);
            id
        }
    };
    let contact = &store.contacts[&id];
    Ok(json(
        StatusCode::CREATED,
        contact_json(contact, &all_includes()),
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
    if let Some((dial, national)) = input.sms_number()?
        && let Some(owner) = store.contact_id_by_sms(&format!("{dial}{national}"))
        && *owner != id
    {
        return Err(ApiError::conflict(
            "Validation failed: SMS number already exists for contact.",
        ));
    }
    let now = store.tick();
    let mut rng = store.rng.clone();
    let mut outcome = Ok(());
    let contact = store
        .update_contact(&id, |c| {
            let mut changed = c.clone();
            changed.deleted_at = None;
            changed.update_source = source.clone();
            outcome = input.apply(&mut changed, &mut rng, now, &source);
            if outcome.is_ok() {
                *c = changed;
            }
        })
        .map(|c| contact_json(c, &all_includes()));
    outcome?;
    store.rng = rng;
    let contact = contact.ok_or_else(|| ApiError::not_found("contact"))?;
    Ok(json(StatusCode::OK, contact))
}
