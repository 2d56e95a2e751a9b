//! Account: who the connected Constant Contact account is and what its user may do.

use plugboard_core::{Context, HttpRequest, Result, choice, input, method, output};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::API;

/// Extra details the account summary can include.
#[choice]
pub enum ExtraField {
    /// The organization's physical address.
    PhysicalAddress,
    /// The company logo.
    CompanyLogo,
}

/// Input of `account.get_summary`.
#[input]
#[derive(Default)]
pub struct GetSummaryInput {
    /// Details to include besides the basic summary.
    #[serde(default)]
    pub extra_fields: Vec<ExtraField>,
}

/// The organization's physical address.
#[output]
pub struct PhysicalAddress {
    /// Line 1 of the street address.
    pub address_line1: Option<String>,
    /// Line 2 of the street address.
    pub address_line2: Option<String>,
    /// Line 3 of the street address.
    pub address_line3: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Two-letter state code (US and Canada).
    pub state_code: Option<String>,
    /// State or province name elsewhere.
    pub state_name: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Two-letter ISO 3166-1 country code.
    pub country_code: Option<String>,
}

/// The company logo (`CompanyLogo` in the API contract).
#[output]
pub struct CompanyLogo {
    /// The internal URL of the logo image hosted in the account's MyLibrary.
    pub url: Option<String>,
    /// The URL of a logo image hosted on an external website.
    pub external_url: Option<String>,
    /// The internal id of the image in MyLibrary, e.g. `ACCOUNT.IMAGE.5`.
    pub internal_id: Option<String>,
}

/// A summary of the connected account (`Customer` in the API contract).
#[output]
pub struct AccountSummary {
    /// The account owner's email address.
    pub contact_email: Option<String>,
    /// The account owner's phone number.
    pub contact_phone: Option<String>,
    /// Two-letter ISO 3166-1 country code of the organization.
    pub country_code: Option<String>,
    /// The encoded id that uniquely identifies the account.
    pub encoded_account_id: Option<String>,
    /// The account owner's first name.
    pub first_name: Option<String>,
    /// The account owner's last name.
    pub last_name: Option<String>,
    /// The organization's name.
    pub organization_name: Option<String>,
    /// The organization's phone number.
    pub organization_phone: Option<String>,
    /// Two-letter state code of the organization.
    pub state_code: Option<String>,
    /// IANA time zone of the account.
    pub time_zone_id: Option<String>,
    /// The organization's website.
    pub website: Option<String>,
    /// The physical address, when asked for with `extra_fields`.
    pub physical_address: Option<PhysicalAddress>,
    /// The company logo, when asked for with `extra_fields` and the account has one.
    pub company_logo: Option<CompanyLogo>,
}

/// Gets the connected account's organization, owner and contact details.
#[method(id = "account.get_summary", name = "Get Account Summary", idempotent)]
pub fn get_summary(cx: &mut Context<'_>, input: GetSummaryInput) -> Result<AccountSummary> {
    API.call(cx, HttpRequest::get("/account/summary").query_from(&input)?)
}

/// Input of `account.get_user_privileges` (none).
#[input]
#[derive(Default)]
pub struct NoInput {}

/// One privilege of the connected user.
#[output]
pub struct UserPrivilege {
    /// Numeric id of the privilege.
    pub privilege_id: Option<i64>,
    /// Name of the privilege, e.g. `campaign:create`.
    pub privilege_name: Option<String>,
}

/// The connected user's privileges.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UserPrivileges {
    /// Every privilege the user has.
    pub privileges: Vec<UserPrivilege>,
}

/// Lists what the connected user may do; a 403 elsewhere often means one is missing.
#[method(id = "account.get_user_privileges", name = "Get User Privileges", idempotent)]
pub fn get_user_privileges(cx: &mut Context<'_>, _input: NoInput) -> Result<UserPrivileges> {
    let privileges = API.call(cx, HttpRequest::get("/account/user/privileges"))?;
    Ok(UserPrivileges { privileges })
}

/// Input of `account.update_summary`: the details to change; those left out stay as they are.
#[input]
#[derive(Default)]
pub struct UpdateSummaryInput {
    /// A confirmed account email address for the account owner.
    pub contact_email: Option<String>,
    /// The account owner's phone number (up to 25 characters).
    #[schemars(length(max = 25))]
    pub contact_phone: Option<String>,
    /// Two-letter ISO 3166-1 country code of the organization.
    pub country_code: Option<String>,
    /// The account owner's first name.
    pub first_name: Option<String>,
    /// The account owner's last name.
    pub last_name: Option<String>,
    /// The organization's name.
    pub organization_name: Option<String>,
    /// The organization's phone number.
    pub organization_phone: Option<String>,
    /// Two-letter state code of the organization (US and Canada).
    pub state_code: Option<String>,
    /// IANA time zone of the account.
    pub time_zone_id: Option<String>,
    /// The organization's website.
    pub website: Option<String>,
}

/// Changes the account's organization and owner details; returns the details as stored.
#[method(id = "account.update_summary", name = "Update Account Summary", idempotent)]
pub fn update_summary(cx: &mut Context<'_>, input: UpdateSummaryInput) -> Result<AccountSummary> {
    API.call(cx, HttpRequest::put("/account/summary").json(&input)?)
}

/// Gets the organization's physical address.
#[method(id = "account.get_physical_address", name = "Get Physical Address", idempotent)]
pub fn get_physical_address(cx: &mut Context<'_>, _input: NoInput) -> Result<PhysicalAddress> {
    API.call(cx, HttpRequest::get("/account/summary/physical_address"))
}

/// Input of `account.add_physical_address` and `account.update_physical_address`.
#[input]
pub struct PhysicalAddressInput {
    /// Line 1 of the street address (1-80 characters).
    #[schemars(length(min = 1, max = 80))]
    pub address_line1: String,
    /// Line 2 of the street address (1-80 characters).
    #[schemars(length(min = 1, max = 80))]
    pub address_line2: Option<String>,
    /// Line 3 of the street address (1-80 characters).
    #[schemars(length(min = 1, max = 80))]
    pub address_line3: Option<String>,
    /// City.
    pub city: String,
    /// Two-letter state code, for the US and Canada only.
    #[schemars(length(max = 2))]
    pub state_code: Option<String>,
    /// State or province name, outside the US and Canada.
    pub state_name: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Two-letter ISO 3166-1 country code.
    pub country_code: String,
}

/// Adds the organization's physical address, for an account that has none yet.
#[method(id = "account.add_physical_address", name = "Add Physical Address")]
pub fn add_physical_address(
    cx: &mut Context<'_>,
    input: PhysicalAddressInput,
) -> Result<PhysicalAddress> {
    let request = HttpRequest::post("/account/summary/physical_address").json(&input)?;
    API.create(cx, request, "a physical address")
}

/// Replaces the organization's physical address.
#[method(id = "account.update_physical_address", name = "Update Physical Address", idempotent)]
pub fn update_physical_address(
    cx: &mut Context<'_>,
    input: PhysicalAddressInput,
) -> Result<PhysicalAddress> {
    let request = HttpRequest::put("/account/summary/physical_address").json(&input)?;
    API.call(cx, request)
}

/// An email address of the account, usable as a campaign's sender once confirmed.
#[output]
pub struct AccountEmail {
    /// The address.
    pub email_address: Option<String>,
    /// Its id in the account.
    pub email_id: Option<i64>,
    /// `CONFIRMED` or `UNCONFIRMED`; only a confirmed address can send campaigns.
    pub confirm_status: Option<String>,
    /// When it was confirmed (ISO-8601).
    pub confirm_time: Option<String>,
    /// Who confirmed it, e.g. `SITE_OWNER`.
    pub confirm_source_type: Option<String>,
    /// Its roles, e.g. `CONTACT`, `BILLING`, `REPLY_TO`.
    pub roles: Vec<String>,
    /// Roles waiting for confirmation.
    pub pending_roles: Vec<String>,
}

/// Confirmation states an account email can be filtered by.
#[choice]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConfirmStatus {
    /// Confirmed addresses, which can send campaigns.
    Confirmed,
    /// Addresses waiting for their owner to confirm them.
    Unconfirmed,
}

/// Roles an account email can be filtered by.
#[choice]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EmailRole {
    /// The account's contact address.
    Contact,
    /// The billing address.
    Billing,
    /// The journaling address.
    Journaling,
    /// A reply-to address.
    ReplyTo,
    /// Any other role.
    Other,
}

/// Input of `account.list_emails`.
#[input]
#[derive(Default)]
pub struct ListEmailsInput {
    /// Only addresses in this confirmation state.
    pub confirm_status: Option<ConfirmStatus>,
    /// Only addresses with this role.
    pub role_code: Option<EmailRole>,
    /// Only this address.
    pub email_address: Option<String>,
}

/// The account's email addresses.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AccountEmails {
    /// Every address that matched.
    pub emails: Vec<AccountEmail>,
}

/// Lists the account's email addresses, e.g. to pick a confirmed sender for a campaign.
#[method(id = "account.list_emails", name = "List Account Emails", idempotent)]
pub fn list_emails(cx: &mut Context<'_>, input: ListEmailsInput) -> Result<AccountEmails> {
    let emails = API.call(cx, HttpRequest::get("/account/emails").query_from(&input)?)?;
    Ok(AccountEmails { emails })
}

/// Input of `account.add_email`.
#[input]
pub struct AddEmailInput {
    /// The address to add (at most 80 characters); Constant Contact emails it a confirmation link.
    #[schemars(length(min = 1, max = 80))]
    pub email_address: String,
}

/// Adds an email address to the account; it can send campaigns once its owner confirms it.
#[method(id = "account.add_email", name = "Add Account Email")]
pub fn add_email(cx: &mut Context<'_>, input: AddEmailInput) -> Result<AccountEmail> {
    let what = format!("the account email `{}`", input.email_address);
    API.create(
        cx,
        HttpRequest::post("/account/emails").json(&input)?,
        &what,
    )
}
