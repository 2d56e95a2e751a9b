//! `/account`: the summary (GET, and PUT as a partial update), the physical address (GET, POST
//! when there is none, PUT), the account's email addresses (GET with one filter, POST adds one
//! `UNCONFIRMED`) and the user's privileges.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Params, check_len, json};
use crate::account::{AccountEmail, ENCODED_PARTNER_ID, PhysicalAddress};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::routes::contact_writes::check_email;
use crate::state::{AppState, lock};

/// `GET /account/summary`.
pub(crate) async fn summary(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let store = lock(&shared.store);
    let mut body = store.account.summary.to_json();
    body.insert("encoded_partner_id".into(), json!(ENCODED_PARTNER_ID));
    for extra in params
        .get("extra_fields")
        .map(|v| v.split(','))
        .into_iter()
        .flatten()
    {
        match extra.trim() {
            "physical_address" => {
                if let Some(address) = &store.account.physical_address {
                    body.insert("physical_address".into(), address.to_json());
                }
            }
            "company_logo" => {
                body.insert(
                    "company_logo".into(),
                    json!({"url": "https://example.com/logo.png",
                           "external_url": "https://example.com/logo.png", "internal_id": "1"}),
                );
            }
            "" => {}
            other => {
                return Err(ApiError::validation(format!(
                    "extra_fields: `{other}` must be physical_address or company_logo."
                )));
            }
        }
    }
    Ok(json(StatusCode::OK, Value::Object(body)))
}

/// `PUT /account/summary`: changes only the properties the body has; `encoded_account_id` is
/// read-only and ignored. 200 with the updated summary.
pub(crate) async fn put_summary(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: Map<String, Value> = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let mut summary = store.account.summary.clone();
    for (name, value) in input {
        if name == "encoded_account_id" {
            continue;
        }
        let Some(target) = summary.field_mut(&name) else {
            return Err(ApiError::validation(format!(
                "`{name}` is not an account detail that can be updated."
            )));
        };
        let Value::String(text) = value else {
            return Err(ApiError::validation(format!("{name} must be a string.")));
        };
        *target = Some(text);
    }
    check_len("contact_phone", summary.contact_phone.as_deref(), 25)?;
    if let Some(email) = &summary.contact_email {
        check_email(email, 80).map_err(|_| {
            ApiError::validation(format!("contact_email `{email}` is not a valid address."))
        })?;
    }
    for (name, value) in [
        ("country_code", &summary.country_code),
        ("state_code", &summary.state_code),
    ] {
        if value
            .as_ref()
            .is_some_and(|v| v.len() != 2 || !v.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(ApiError::validation(format!(
                "{name} must be a two-letter upper-case code."
            )));
        }
    }
    store.account.summary = summary;
    Ok(json(
        StatusCode::OK,
        Value::Object(store.account.summary.to_json()),
    ))
}

#[derive(Deserialize)]
struct AddressIn {
    address_line1: Option<String>,
    address_line2: Option<String>,
    address_line3: Option<String>,
    city: Option<String>,
    state_code: Option<String>,
    state_name: Option<String>,
    postal_code: Option<String>,
    country_code: Option<String>,
}

impl AddressIn {
    /// The address, checked as the spec says: line 1, city and country required, lines of 1–80
    /// characters, `state_code` (two letters) for the US and Canada, `state_name` elsewhere.
    fn checked(self) -> Result<PhysicalAddress, ApiError> {
        let required = |value: Option<String>, name: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ApiError::validation(format!("{name} is required.")))
        };
        let address_line1 = required(self.address_line1, "address_line1")?;
        let city = required(self.city, "city")?;
        let country_code = required(self.country_code, "country_code")?;
        for (name, value) in [
            ("address_line1", Some(&address_line1)),
            ("address_line2", self.address_line2.as_ref()),
            ("address_line3", self.address_line3.as_ref()),
        ] {
            if value.is_some_and(|v| v.is_empty()) {
                return Err(ApiError::validation(format!(
                    "{name} must be 1 to 80 characters."
                )));
            }
            check_len(name, value.map(String::as_str), 80)?;
        }
        check_len("state_code", self.state_code.as_deref(), 2)?;
        let north_america = matches!(country_code.as_str(), "US" | "CA");
        if north_america && self.state_code.is_none() {
            return Err(ApiError::validation(
                "state_code is required for an address in the US or Canada.",
            ));
        }
        if !north_america && self.state_code.is_some() {
            return Err(ApiError::validation(
                "state_code is for US and Canadian addresses; use state_name.",
            ));
        }
        Ok(PhysicalAddress {
            address_line1,
            address_line2: self.address_line2,
            address_line3: self.address_line3,
            city,
            state_code: self.state_code,
            state_name: self.state_name,
            postal_code: self.postal_code,
            country_code,
        })
    }
}

/// `GET /account/summary/physical_address`.
pub(crate) async fn physical_address(State(shared): State<AppState>) -> ApiResult {
    let store = lock(&shared.store);
    let address = store
        .account
        .physical_address
        .as_ref()
        .ok_or_else(|| ApiError::not_found("physical address"))?;
    Ok(json(StatusCode::OK, address.to_json()))
}

/// `POST /account/summary/physical_address`: 201; 409 when the account has one (use PUT).
pub(crate) async fn add_physical_address(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let address = parse_body::<AddressIn>(&body)?.checked()?;
    let mut store = lock(&shared.store);
    if store.account.physical_address.is_some() {
        return Err(ApiError::conflict(
            "The account already has a physical address; update it with PUT.",
        ));
    }
    let body = address.to_json();
    store.account.physical_address = Some(address);
    Ok(json(StatusCode::CREATED, body))
}

/// `PUT /account/summary/physical_address`: replaces the address.
pub(crate) async fn put_physical_address(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let address = parse_body::<AddressIn>(&body)?.checked()?;
    let mut store = lock(&shared.store);
    let body = address.to_json();
    store.account.physical_address = Some(address);
    Ok(json(StatusCode::OK, body))
}

/// `GET /account/emails`: every address, or those matching the one filter given.
pub(crate) async fn emails(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let filters: Vec<&str> = ["confirm_status", "role_code", "email_address"]
        .into_iter()
        .filter(|name| params.contains_key(*name))
        .collect();
    if filters.len() > 1 {
        return Err(ApiError::validation(format!(
            "Only one of confirm_status, role_code and email_address can be used at a time, not {}.",
            filters.join(" and ")
        )));
    }
    let status = match params.get("confirm_status").map(String::as_str) {
        None => None,
        Some("CONFIRMED" | "C") => Some("CONFIRMED"),
        Some("UNCONFIRMED" | "U") => Some("UNCONFIRMED"),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "confirm_status `{other}` must be CONFIRMED (C) or UNCONFIRMED (U)."
            )));
        }
    };
    let role = match params.get("role_code").map(String::as_str) {
        None => None,
        Some(code) => Some(
            [
                "CONTACT",
                "BILLING",
                "JOURNALING",
                "REPLY_TO",
                "OTHER",
            ]
            .into_iter()
            .find(|r| *r == code || r[..1] == *code)
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "role_code `{code}` must be CONTACT, BILLING, JOURNALING, REPLY_TO or OTHER (or its first letter)."
                ))
            })?,
        ),
    };
    let address = params.get("email_address");
    let store = lock(&shared.store);
    let body: Vec<Value> = store
        .account
        .emails
        .iter()
        .filter(|e| status.is_none_or(|s| e.confirm_status == s))
        .filter(|e| role.is_none_or(|r| e.roles.iter().any(|x| x == r)))
        .filter(|e| address.is_none_or(|a| e.address.eq_ignore_ascii_case(a)))
        .map(AccountEmail::to_json)
        .collect();
    Ok(json(StatusCode::OK, json!(body)))
}

#[derive(Deserialize)]
struct EmailIn {
    email_address: Option<String>,
}

/// `POST /account/emails`: adds an `UNCONFIRMED` address (the service then emails it a
/// confirmation link, which nobody clicks in the sandbox); 409 when the account has it.
pub(crate) async fn add_email(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: EmailIn = parse_body(&body)?;
    let address = input
        .email_address
        .ok_or_else(|| ApiError::validation("email_address is required."))?;
    check_email(&address, 80)?;
    let mut store = lock(&shared.store);
    if store
        .account
        .emails
        .iter()
        .any(|e| e.address.eq_ignore_ascii_case(&address))
    {
        return Err(ApiError::conflict(format!(
            "The account already has the email address `{address}`."
        )));
    }
    let email = AccountEmail {
        id: store.account.next_email_id(),
        address,
        confirm_status: "UNCONFIRMED".into(),
        confirm_time: None,
        confirm_source_type: None,
        roles: Vec::new(),
    };
    let body = json!({"email_address": email.address, "email_id": email.id,
                      "confirm_status": email.confirm_status});
    store.account.emails.push(email);
    Ok(json(StatusCode::CREATED, body))
}

/// `GET /account/user/privileges`.
pub(crate) async fn privileges(State(_shared): State<AppState>) -> ApiResult {
    let names = [
        "account:read",
        "account:update",
        "contacts:read",
        "contacts:write",
        "contacts:lists:write",
        "campaign:read",
        "campaign:create",
        "campaign:send",
        "ui:campaign:metrics",
    ];
    let body: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| json!({"privilege_id": i + 1, "privilege_name": name}))
        .collect();
    Ok(json(StatusCode::OK, json!(body)))
}
