//! Account: who the connected Constant Contact account is and what its user may do.

use plugboard_core::{Context, HttpRequest, Result, input, method, output};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::API;

/// Extra details the account summary can include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExtraField {
    /// The organization's physical address.
    PhysicalAddress,
    /// The company logo.
    CompanyLogo,
}

/// Input of `account.get_summary`.
#[input]
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct GetSummaryInput {
    /// Details to include besides the basic summary.
    #[serde(default)]
    pub extra_fields: Vec<ExtraField>,
}

/// The organization's physical address.
#[output]
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct NoInput {}

/// One privilege of the connected user.
#[output]
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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
#[method(
    id = "account.get_user_privileges",
    name = "Get User Privileges",
    idempotent
)]
pub fn get_user_privileges(cx: &mut Context<'_>, _input: NoInput) -> Result<UserPrivileges> {
    let privileges = API.call(cx, HttpRequest::get("/account/user/privileges"))?;
    Ok(UserPrivileges { privileges })
}
