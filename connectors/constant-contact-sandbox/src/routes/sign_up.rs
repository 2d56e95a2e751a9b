//! `POST /contacts/sign_up_form`: the create-or-update of a contact by its email address or SMS
//! number (201 created, 200 updated), with lists and custom fields appended.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::contact_writes::{
    FieldIn, SmsConsentIn, check_birthday, check_email, check_ids, new_sms_channel, us_sms_number,
};
use super::{check_len, json};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::{Address, Contact, EmailAddr, Phone, SmsConsent};

#[derive(Deserialize)]
struct SignUpAddress {
    kind: String,
    street: Option<String>,
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

/// The `sms_channel` of a sign-up.
#[derive(Deserialize)]
struct SignUpSms {
    sms_address: Option<String>,
    dial_code: Option<String>,
    country_code: Option<String>,
    sms_channel_consents: Option<Vec<SmsConsentIn>>,
}

impl SignUpSms {
    /// The number as `("1", national)` and its consents, checked.
    fn checked(self, now: i64) -> Result<((String, String), Vec<SmsConsent>), ApiError> {
        let address = self
            .sms_address
            .ok_or_else(|| ApiError::validation("sms_channel.sms_address is required."))?;
        let dial = self
            .dial_code
            .ok_or_else(|| ApiError::validation("sms_channel.dial_code is required."))?;
        let country = self
            .country_code
            .ok_or_else(|| ApiError::validation("sms_channel.country_code is required."))?;
        if country != "US" {
            return Err(ApiError::validation(
                "sms_channel.country_code: the sandbox supports US numbers only.",
            ));
        }
        let number = us_sms_number("sms_channel", &format!("{dial}{address}"))?;
        let consents = self.sms_channel_consents.unwrap_or_default();
        if consents.is_empty() {
            return Err(ApiError::validation(
                "sms_channel.sms_channel_consents requires at least one consent.",
            ));
        }
        let consents = consents
            .into_iter()
            .enumerate()
            .map(|(i, c)| c.into_consent(&format!("sms_channel.sms_channel_consents[{i}]"), now))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((number, consents))
    }
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
    sms_channel: Option<SignUpSms>,
}

/// A new explicit-consent email address given by the contact.
fn signed_up_email(address: String, now: i64) -> EmailAddr {
    EmailAddr {
        address,
        permission_to_send: "explicit".into(),
        opt_in_source: Some("Contact".into()),
        opt_in_date: Some(now),
        opt_out_source: None,
        opt_out_date: None,
        opt_out_reason: None,
        confirm_status: "off".into(),
        created_at: now,
        updated_at: now,
        resubscribe_requested: false,
    }
}

/// `POST /contacts/sign_up_form`: creates (201) or partially updates (200) the contact with this
/// email address or SMS number; lists and custom fields are appended.
pub(crate) async fn sign_up_form(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let mut input: SignUpIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let now = store.tick();
    let email = input.email_address.clone();
    let sms = input
        .sms_channel
        .take()
        .map(|s| s.checked(now))
        .transpose()?;
    if email.is_none() && sms.is_none() {
        return Err(ApiError::validation(
            "Either email_address or sms_channel is required.",
        ));
    }
    if let Some(email) = &email {
        check_email(email, 50)?;
    }
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
    let by_email = email
        .as_ref()
        .and_then(|e| store.contact_id_by_email(e))
        .cloned();
    let by_sms = sms
        .as_ref()
        .and_then(|((dial, national), _)| store.contact_id_by_sms(&format!("{dial}{national}")))
        .cloned();
    let existing = match (by_email, by_sms) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::conflict(
                "The email address and the SMS number belong to different contacts.",
            ));
        }
        (a, b) => a.or(b),
    };
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
                updated_at: now,
                create_source: "Contact".into(),
                update_source: "Contact".into(),
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
        match (&mut c.email, email) {
            (Some(e), _) => {
                e.permission_to_send = "explicit".into();
                e.opt_in_source = Some("Contact".into());
                e.opt_in_date = Some(now);
                e.opt_out_source = None;
                e.opt_out_date = None;
                e.opt_out_reason = None;
                e.updated_at = now;
            }
            (None, Some(address)) => c.email = Some(signed_up_email(address, now)),
            (None, None) => {}
        }
        if let Some((number, consents)) = sms {
            c.sms = Some(new_sms_channel(
                c.sms.as_ref(),
                number,
                consents,
                "Contact",
                rng,
            ));
        }
    };
    let (status, id, action) = match existing {
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
