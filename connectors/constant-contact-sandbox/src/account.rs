//! The account's own details: its summary (owner, organization, time zone…), the physical address
//! shown in email footers, and the account email addresses campaigns may be sent from. Seeded with
//! a fixed test account; changed by `PUT /account/summary`, `POST`/`PUT
//! /account/summary/physical_address` and `POST /account/emails`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The fields of `GET /account/summary` that `PUT /account/summary` may change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountSummary {
    /// The owner's email.
    pub contact_email: Option<String>,
    /// The owner's phone (≤ 25 characters).
    pub contact_phone: Option<String>,
    /// Two-letter country code.
    pub country_code: Option<String>,
    /// Owner's first name.
    pub first_name: Option<String>,
    /// Owner's last name.
    pub last_name: Option<String>,
    /// Organization.
    pub organization_name: Option<String>,
    /// Organization's phone.
    pub organization_phone: Option<String>,
    /// State or province code.
    pub state_code: Option<String>,
    /// Time zone, e.g. `US/Eastern`.
    pub time_zone_id: Option<String>,
    /// Website.
    pub website: Option<String>,
}

impl AccountSummary {
    /// The field called `name`.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "contact_email" => &mut self.contact_email,
            "contact_phone" => &mut self.contact_phone,
            "country_code" => &mut self.country_code,
            "first_name" => &mut self.first_name,
            "last_name" => &mut self.last_name,
            "organization_name" => &mut self.organization_name,
            "organization_phone" => &mut self.organization_phone,
            "state_code" => &mut self.state_code,
            "time_zone_id" => &mut self.time_zone_id,
            "website" => &mut self.website,
            _ => return None,
        })
    }

    /// The summary as the API shows it (`encoded_account_id` included, unset fields left out).
    pub fn to_json(&self) -> Map<String, Value> {
        let fields = [
            ("contact_email", &self.contact_email),
            ("contact_phone", &self.contact_phone),
            ("country_code", &self.country_code),
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("organization_name", &self.organization_name),
            ("organization_phone", &self.organization_phone),
            ("state_code", &self.state_code),
            ("time_zone_id", &self.time_zone_id),
            ("website", &self.website),
        ];
        let mut out = Map::new();
        for (name, value) in fields {
            if let Some(value) = value {
                out.insert(name.into(), json!(value));
            }
        }
        out.insert("encoded_account_id".into(), json!(ENCODED_ACCOUNT_ID));
        out
    }
}

/// The seeded account's id, as `encoded_account_id`.
pub const ENCODED_ACCOUNT_ID: &str = "a07e1sandbox0";
/// The partner the seeded account was provisioned by, as `encoded_partner_id`.
pub const ENCODED_PARTNER_ID: &str = "a37sandbox95el";

/// The organization's physical address (required to send emails; shown in their footers).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PhysicalAddress {
    /// First line (1–80 characters; required).
    pub address_line1: String,
    /// Second line.
    pub address_line2: Option<String>,
    /// Third line.
    pub address_line3: Option<String>,
    /// City (required).
    pub city: String,
    /// Two-letter state code (US and Canada).
    pub state_code: Option<String>,
    /// State or province name (other countries).
    pub state_name: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Two-letter country code (required).
    pub country_code: String,
}

impl PhysicalAddress {
    /// The address as the API shows it.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("address_line1".into(), json!(self.address_line1));
        for (name, value) in [
            ("address_line2", &self.address_line2),
            ("address_line3", &self.address_line3),
        ] {
            if let Some(v) = value {
                out.insert(name.into(), json!(v));
            }
        }
        out.insert("city".into(), json!(self.city));
        for (name, value) in [
            ("state_code", &self.state_code),
            ("state_name", &self.state_name),
            ("postal_code", &self.postal_code),
        ] {
            if let Some(v) = value {
                out.insert(name.into(), json!(v));
            }
        }
        out.insert("country_code".into(), json!(self.country_code));
        Value::Object(out)
    }
}

/// An email address of the account (what campaigns may be sent from).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountEmail {
    /// Integer id.
    pub id: i64,
    /// The address.
    pub address: String,
    /// CONFIRMED | UNCONFIRMED.
    pub confirm_status: String,
    /// When it was confirmed.
    pub confirm_time: Option<i64>,
    /// How it was confirmed (e.g. `SITE_OWNER`).
    pub confirm_source_type: Option<String>,
    /// CONTACT, BILLING, REPLY_TO, JOURNALING, OTHER.
    pub roles: Vec<String>,
}

impl AccountEmail {
    /// The address as `GET /account/emails` lists it.
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "email_address": self.address,
            "email_id": self.id,
            "confirm_status": self.confirm_status,
            "roles": self.roles,
            "pending_roles": [],
        });
        if let Some(time) = self.confirm_time {
            out["confirm_time"] = json!(crate::util::format_ms(time));
        }
        if let Some(source) = &self.confirm_source_type {
            out["confirm_source_type"] = json!(source);
        }
        out
    }
}

/// The account's details.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Account {
    /// What `GET /account/summary` shows.
    pub summary: AccountSummary,
    /// The physical address, once set.
    pub physical_address: Option<PhysicalAddress>,
    /// The account's email addresses, oldest first.
    pub emails: Vec<AccountEmail>,
    /// How many test emails were sent on `test_sends_day` (the service allows 50 a day).
    pub test_sends: u32,
    /// The UTC day (days since the epoch) `test_sends` counts.
    pub test_sends_day: i64,
}

impl Account {
    /// The fixed test account every seeded sandbox starts with: the owner, a physical address,
    /// and the confirmed addresses the seeded campaigns are sent from.
    pub fn seeded() -> Self {
        let text = |s: &str| Some(s.to_owned());
        let confirmed = |id: i64, address: &str, roles: &[&str]| AccountEmail {
            id,
            address: address.into(),
            confirm_status: "CONFIRMED".into(),
            confirm_time: Some(1_577_836_800_000),
            confirm_source_type: Some("SITE_OWNER".into()),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        };
        Self {
            summary: AccountSummary {
                contact_email: text("owner@example.com"),
                contact_phone: text("555-555-0100"),
                country_code: text("US"),
                first_name: text("Sandra"),
                last_name: text("Box"),
                organization_name: text("Plugboard Sandbox Inc."),
                organization_phone: text("555-555-0101"),
                state_code: text("MA"),
                time_zone_id: text("US/Eastern"),
                website: text("https://example.com"),
            },
            physical_address: Some(PhysicalAddress {
                address_line1: "1 Main St".into(),
                address_line2: None,
                address_line3: None,
                city: "Waltham".into(),
                state_code: text("MA"),
                state_name: None,
                postal_code: text("02451"),
                country_code: "US".into(),
            }),
            emails: vec![
                confirmed(1, "owner@example.com", &["CONTACT", "BILLING"]),
                confirmed(2, "sender@example.com", &["OTHER"]),
                confirmed(3, "reply@example.com", &["REPLY_TO"]),
            ],
            test_sends: 0,
            test_sends_day: 0,
        }
    }

    /// The id the next added email gets.
    pub fn next_email_id(&self) -> i64 {
        self.emails.iter().map(|e| e.id).max().unwrap_or(0) + 1
    }
}
