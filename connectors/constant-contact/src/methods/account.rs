//! Account: who the connected Constant Contact account is and what its user may do.

use plugboard_core::{
    ConnectorError, Context, HttpRequest, Method, MethodInfo, MethodKind, NoRecords,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::errors::check;

/// Extra details the account summary can include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExtraField {
    /// The organization's physical address.
    PhysicalAddress,
    /// The company logo.
    CompanyLogo,
}

impl ExtraField {
    /// The name the API expects in `extra_fields`.
    fn as_str(self) -> &'static str {
        match self {
            Self::PhysicalAddress => "physical_address",
            Self::CompanyLogo => "company_logo",
        }
    }
}

/// Input of `account.get_summary`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetSummaryInput {
    /// Details to include besides the basic summary.
    #[serde(default)]
    pub extra_fields: Vec<ExtraField>,
}

/// The organization's physical address.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PhysicalAddress {
    /// Line 1 of the street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line1: Option<String>,
    /// Line 2 of the street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    /// Line 3 of the street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line3: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Two-letter state code (US and Canada).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_code: Option<String>,
    /// State or province name elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_name: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Two-letter ISO 3166-1 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

/// The company logo (`CompanyLogo` in the API contract).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CompanyLogo {
    /// The internal URL of the logo image hosted in the account's MyLibrary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The URL of a logo image hosted on an external website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    /// The internal id of the image in MyLibrary, e.g. `ACCOUNT.IMAGE.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_id: Option<String>,
}

/// A summary of the connected account (`Customer` in the API contract).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AccountSummary {
    /// The account owner's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    /// The account owner's phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_phone: Option<String>,
    /// Two-letter ISO 3166-1 country code of the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// The encoded id that uniquely identifies the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded_account_id: Option<String>,
    /// The account owner's first name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// The account owner's last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// The organization's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    /// The organization's phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_phone: Option<String>,
    /// Two-letter state code of the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_code: Option<String>,
    /// IANA time zone of the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone_id: Option<String>,
    /// The organization's website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// The physical address, when asked for with `extra_fields`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_address: Option<PhysicalAddress>,
    /// The company logo, when asked for with `extra_fields` and the account has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_logo: Option<CompanyLogo>,
}

/// `GET /account/summary`.
pub struct GetSummary;

impl Method for GetSummary {
    type Input = GetSummaryInput;
    type Output = AccountSummary;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "account.get_summary",
        name: "Get Account Summary",
        category: "Account",
        description: "Gets the connected account's organization, owner and contact details.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: GetSummaryInput,
    ) -> Result<AccountSummary, ConnectorError> {
        let mut request = HttpRequest::get("/account/summary");
        if !input.extra_fields.is_empty() {
            let names: Vec<&str> = input.extra_fields.iter().map(|f| f.as_str()).collect();
            request = request.query("extra_fields", names.join(","));
        }
        check(cx.send(request)?)?.decode()
    }
}

/// Input of `account.get_user_privileges` (none).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

/// One privilege of the connected user.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UserPrivilege {
    /// Numeric id of the privilege.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privilege_id: Option<i64>,
    /// Name of the privilege, e.g. `campaign:create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privilege_name: Option<String>,
}

/// The connected user's privileges.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UserPrivileges {
    /// Every privilege the user has.
    pub privileges: Vec<UserPrivilege>,
}

/// `GET /account/user/privileges`.
pub struct GetUserPrivileges;

impl Method for GetUserPrivileges {
    type Input = NoInput;
    type Output = UserPrivileges;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "account.get_user_privileges",
        name: "Get User Privileges",
        category: "Account",
        description: "Lists what the connected user may do; a 403 elsewhere often means one is missing.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        _input: NoInput,
    ) -> Result<UserPrivileges, ConnectorError> {
        let response = check(cx.send(HttpRequest::get("/account/user/privileges"))?)?;
        Ok(UserPrivileges {
            privileges: response.decode()?,
        })
    }
}
