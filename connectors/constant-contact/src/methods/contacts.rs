//! Contacts: read, create, replace, upsert by email or SMS number, delete, count; listing and
//! polling live in [`listing`], the SMS channel's types and history in [`sms`].

mod listing;
pub(crate) mod sms;

use std::time::Duration;

use plugboard_core::rest::segment;
use plugboard_core::{
    ConnectorError, Context, HttpRequest, HttpResponse, LogLevel, Result, choice, input, method,
    output,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use listing::{list, poll_updated};
use sms::{SignUpSmsChannelInput, SmsChannelInput};

use super::Deleted;
use crate::api::API;

/// How often `POST /contacts/sign_up_form` is sent again after a 409 (another request was
/// changing the same contact); the upsert is safe to repeat, since a 409 changed nothing.
const CONFLICT_RETRIES: u32 = 3;
/// The pause before the first repeat of a conflicting sign-up; it doubles after each.
const FIRST_CONFLICT_DELAY: Duration = Duration::from_millis(500);

/// A contact's email address and consent.
#[output]
pub struct EmailAddress {
    /// The email address.
    pub address: String,
    /// `explicit`, `implicit`, `not_set`, `pending_confirmation`, `temp_hold` or `unsubscribed`.
    pub permission_to_send: Option<String>,
    /// Who opted the address in: `Contact` or `Account`.
    pub opt_in_source: Option<String>,
    /// When the address was opted in (ISO-8601).
    pub opt_in_date: Option<String>,
    /// Who opted the address out: `Contact` or `Account`.
    pub opt_out_source: Option<String>,
    /// When the address was opted out (ISO-8601).
    pub opt_out_date: Option<String>,
    /// Why the contact opted out, in their words.
    pub opt_out_reason: Option<String>,
    /// Whether the contact confirmed the address: `pending`, `confirmed` or `off`.
    pub confirm_status: Option<String>,
    /// When the address was added (ISO-8601).
    pub created_at: Option<String>,
    /// When the address last changed (ISO-8601).
    pub updated_at: Option<String>,
}

/// A custom field value of a contact.
#[output]
pub struct ContactCustomField {
    /// The custom field's id.
    pub custom_field_id: String,
    /// The value (up to 255 characters).
    pub value: Option<String>,
    /// For single- and multi-select fields, the ids of the chosen choices.
    pub choice_ids: Option<Vec<String>>,
}

/// A contact's phone number.
#[output]
pub struct PhoneNumber {
    /// Unique id of the phone number.
    pub phone_number_id: Option<String>,
    /// The number.
    pub phone_number: Option<String>,
    /// `home`, `work`, `mobile` or `other`.
    pub kind: Option<String>,
    /// When the number was added (ISO-8601).
    pub created_at: Option<String>,
    /// When the number last changed (ISO-8601).
    pub updated_at: Option<String>,
}

/// A contact's street address.
#[output]
pub struct StreetAddress {
    /// Unique id of the address.
    pub street_address_id: Option<String>,
    /// `home`, `work` or `other`.
    pub kind: Option<String>,
    /// Number and street.
    pub street: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State or province.
    pub state: Option<String>,
    /// Zip or postal code.
    pub postal_code: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// When the address was added (ISO-8601).
    pub created_at: Option<String>,
    /// When the address last changed (ISO-8601).
    pub updated_at: Option<String>,
}

/// A note about a contact.
#[output]
pub struct Note {
    /// Unique id of the note (keep it when replacing a contact to keep the note).
    pub note_id: Option<String>,
    /// The note's text (up to 2,000 characters).
    pub content: Option<String>,
    /// When the note was written (ISO-8601).
    pub created_at: Option<String>,
}

/// A contact, as the API returns it. Sub-resources (custom fields, phone numbers, addresses,
/// lists, tags, notes) are present only when asked for with `include`.
#[output]
pub struct Contact {
    /// Unique id of the contact.
    pub contact_id: String,
    /// The email address and its consent.
    pub email_address: Option<EmailAddress>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Company name.
    pub company_name: Option<String>,
    /// Birthday month, 1-12.
    pub birthday_month: Option<i64>,
    /// Birthday day, 1-31.
    pub birthday_day: Option<i64>,
    /// Anniversary date.
    pub anniversary: Option<String>,
    /// Who added the contact: `Contact` or `Account`.
    pub create_source: Option<String>,
    /// Who last updated the contact: `Contact` or `Account`.
    pub update_source: Option<String>,
    /// When the contact was created (ISO-8601).
    pub created_at: Option<String>,
    /// When the contact last changed (ISO-8601); the poll trigger's cursor.
    pub updated_at: Option<String>,
    /// When the contact was deleted, for deleted contacts.
    pub deleted_at: Option<String>,
    /// Custom field values.
    pub custom_fields: Option<Vec<ContactCustomField>>,
    /// Phone numbers (up to 3).
    pub phone_numbers: Option<Vec<PhoneNumber>>,
    /// Street addresses (up to 3).
    pub street_addresses: Option<Vec<StreetAddress>>,
    /// Ids of the lists the contact is a member of.
    pub list_memberships: Option<Vec<String>>,
    /// Ids of the tags on the contact.
    pub taggings: Option<Vec<String>>,
    /// Notes, most recent first.
    pub notes: Option<Vec<Note>>,
}

/// Sub-resources a contact read can include.
#[choice]
pub enum Include {
    /// Custom field values.
    CustomFields,
    /// List memberships.
    ListMemberships,
    /// Phone numbers.
    PhoneNumbers,
    /// Street addresses.
    StreetAddresses,
    /// Tags.
    Taggings,
    /// Notes.
    Notes,
}

/// Contacts by email status.
#[choice]
pub enum ContactStatus {
    /// Every contact, deleted ones included.
    All,
    /// Contacts that are not deleted.
    Active,
    /// Deleted contacts.
    Deleted,
    /// Contacts without email permission set.
    NotSet,
    /// Contacts that have not confirmed yet.
    PendingConfirmation,
    /// Contacts on temporary hold.
    TempHold,
    /// Contacts that unsubscribed.
    Unsubscribed,
}

/// Contacts by SMS status.
#[choice]
pub enum SmsStatus {
    /// Every SMS status.
    All,
    /// Explicit SMS permission.
    Explicit,
    /// Unsubscribed from SMS.
    Unsubscribed,
    /// SMS permission pending confirmation.
    PendingConfirmation,
    /// SMS permission not set.
    NotSet,
}

/// Input of `contacts.get`.
#[input]
pub struct GetContactInput {
    /// The contact's id.
    #[serde(skip_serializing)]
    pub contact_id: String,
    /// Sub-resources to include.
    #[serde(default)]
    pub include: Vec<Include>,
}

fn contact_path(contact_id: &str) -> Result<String> {
    Ok(format!("/contacts/{}", segment("contact_id", contact_id)?))
}

/// Gets one contact by id, with the sub-resources asked for.
#[method(id = "contacts.get", name = "Get Contact", idempotent)]
pub fn get(cx: &mut Context<'_>, input: GetContactInput) -> Result<Contact> {
    let request = HttpRequest::get(contact_path(&input.contact_id)?).query_from(&input)?;
    API.call(cx, request)
}

/// A custom field value to write.
// Unknown keys are tolerated (and dropped), so a value read from a contact can be written back.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ContactCustomFieldInput {
    /// The custom field's id.
    pub custom_field_id: String,
    /// The value (up to 255 characters).
    #[schemars(length(max = 255))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// For single- and multi-select fields, the ids of the chosen choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_ids: Option<Vec<String>>,
}

/// A note to write.
// Unknown keys are tolerated (and dropped), so a note read from a contact can be written back.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NoteInput {
    /// Unique id of the note (keep it when replacing a contact to keep the note).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_id: Option<String>,
    /// The note's text (up to 2,000 characters).
    #[schemars(length(max = 2000))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// When the note was written (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// Who performed a change, for compliance: the contact themselves or the account (integration).
#[choice]
#[serde(rename_all = "PascalCase")]
pub enum Source {
    /// The contact acted (e.g. filled in a sign-up form).
    Contact,
    /// The account or an integration acting for it.
    Account,
}

/// Email consent a contact gave.
#[choice]
pub enum PermissionToSend {
    /// The contact agreed explicitly.
    Explicit,
    /// Consent is inferred (e.g. an existing customer).
    Implicit,
    /// Not set.
    NotSet,
    /// Waiting for the contact to confirm.
    PendingConfirmation,
    /// Temporarily held.
    TempHold,
    /// The contact unsubscribed.
    Unsubscribed,
}

/// An email address to write.
#[input]
#[derive(Clone)]
pub struct EmailAddressInput {
    /// The email address (up to 80 characters, unique per account).
    #[schemars(length(max = 80))]
    pub address: String,
    /// The consent the contact gave.
    pub permission_to_send: Option<PermissionToSend>,
}

/// Kinds of phone number.
#[choice]
pub enum PhoneKind {
    /// Home.
    Home,
    /// Work.
    Work,
    /// Mobile.
    Mobile,
    /// Other.
    Other,
}

/// A phone number to write.
#[input]
#[derive(Clone)]
pub struct PhoneNumberInput {
    /// The number (up to 25 characters).
    #[schemars(length(max = 25))]
    pub phone_number: String,
    /// What kind of number it is.
    pub kind: Option<PhoneKind>,
}

/// Kinds of street address.
#[choice]
pub enum AddressKind {
    /// Home.
    Home,
    /// Work.
    Work,
    /// Other.
    Other,
}

/// A street address to write.
#[input]
#[derive(Clone)]
pub struct StreetAddressInput {
    /// What kind of address it is.
    pub kind: AddressKind,
    /// Number and street (up to 255 characters).
    #[schemars(length(max = 255))]
    pub street: Option<String>,
    /// City (up to 50 characters).
    #[schemars(length(max = 50))]
    pub city: Option<String>,
    /// State or province (up to 50 characters).
    #[schemars(length(max = 50))]
    pub state: Option<String>,
    /// Zip or postal code (up to 50 characters).
    #[schemars(length(max = 50))]
    pub postal_code: Option<String>,
    /// Country (up to 50 characters).
    #[schemars(length(max = 50))]
    pub country: Option<String>,
}

/// Declares a contact-writing input: its own fields, then the contact fields it shares with the
/// other writes (so create and replace cannot drift apart).
macro_rules! contact_write_input {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[input]
        #[derive(Clone)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
            /// The email address and its consent.
            pub email_address: Option<EmailAddressInput>,
            /// The SMS number and its consents (a contact may have an SMS number and no email
            /// address).
            pub sms_channel: Option<SmsChannelInput>,
            /// First name (up to 50 characters).
            #[schemars(length(max = 50))]
            pub first_name: Option<String>,
            /// Last name (up to 50 characters).
            #[schemars(length(max = 50))]
            pub last_name: Option<String>,
            /// Job title (up to 50 characters).
            #[schemars(length(max = 50))]
            pub job_title: Option<String>,
            /// Company name (up to 50 characters).
            #[schemars(length(max = 50))]
            pub company_name: Option<String>,
            /// Birthday month, 1-12 (with `birthday_day`).
            #[schemars(range(min = 1, max = 12))]
            pub birthday_month: Option<u8>,
            /// Birthday day, 1-31 (with `birthday_month`).
            #[schemars(range(min = 1, max = 31))]
            pub birthday_day: Option<u8>,
            /// Anniversary date, e.g. `2006-11-15`.
            #[schemars(length(max = 10))]
            pub anniversary: Option<String>,
            /// Custom field values (up to 25).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(length(max = 25))]
            pub custom_fields: Vec<ContactCustomFieldInput>,
            /// Phone numbers (up to 3).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(length(max = 3))]
            pub phone_numbers: Vec<PhoneNumberInput>,
            /// Street addresses (up to 3).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(length(max = 3))]
            pub street_addresses: Vec<StreetAddressInput>,
            /// Ids of the lists the contact belongs to (up to 50).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(length(max = 50))]
            pub list_memberships: Vec<String>,
            /// Ids of the tags on the contact (up to 50).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(length(max = 50))]
            pub taggings: Vec<String>,
            /// Notes about the contact (up to 150).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(length(max = 150))]
            pub notes: Vec<NoteInput>,
        }
    };
}

contact_write_input! {
    /// Input of `contacts.create`.
    CreateContactInput {
        /// Who is adding the contact: `Contact` (they signed up themselves) or `Account`. Set it
        /// truthfully: it is kept for compliance and cannot change later.
        create_source: Source,
    }
}

contact_write_input! {
    /// Input of `contacts.update`: the whole contact, as it should be afterwards.
    UpdateContactInput {
        /// The contact's id.
        #[serde(skip_serializing)]
        contact_id: String,
        /// Who is making the change: `Contact` or `Account`. Only `Account` revives a deleted
        /// contact (the API's rule for restoring one with a PUT).
        update_source: Source,
    }
}

/// Creates a contact with an email address, an SMS number, or a name; fails with
/// `already_exists` when the email address is taken (use contacts.create_or_update to upsert).
#[method(id = "contacts.create", name = "Create Contact", find_effect = find_by_email)]
pub fn create(cx: &mut Context<'_>, input: CreateContactInput) -> Result<Contact> {
    let what = match (&input.email_address, &input.sms_channel) {
        (Some(email), _) => format!("a contact with email {}", email.address),
        (None, Some(sms)) => format!("a contact with SMS number {}", sms.full_sms_address),
        (None, None) if input.first_name.is_some() || input.last_name.is_some() => {
            "a contact".to_owned()
        }
        (None, None) => {
            return Err(ConnectorError::InvalidInput {
                message: "a new contact needs at least one of `email_address`, `sms_channel`, \
                          `first_name` or `last_name`"
                    .into(),
            });
        }
    };
    API.create(cx, HttpRequest::post("/contacts").json(&input)?, &what)
}

/// The address is unique in an account: a contact with it, in any status, is there because of
/// the lost call (or was before it, when the call would have failed as `already_exists`). A
/// contact written without an email address cannot be looked up (the API finds contacts by
/// email only), so that call's outcome stays for a person to settle.
fn find_by_email(cx: &mut Context<'_>, input: &CreateContactInput) -> Result<Option<Contact>> {
    /// The one page an address lookup reads.
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        contacts: Vec<Contact>,
    }
    let Some(email) = &input.email_address else {
        return Err(ConnectorError::NotImplemented {
            what: "finding a contact created without an email address: the API looks contacts \
                   up by email only"
                .into(),
        });
    };
    let address = &email.address;
    let request = HttpRequest::get("/contacts")
        .query("email", address)
        .query("status", "all")
        .query(
            "include",
            "custom_fields,list_memberships,phone_numbers,street_addresses,notes,taggings",
        );
    let page: Page = API.call(cx, request)?;
    Ok(page.contacts.into_iter().find(|contact| {
        (contact.email_address.as_ref()).is_some_and(|e| e.address.eq_ignore_ascii_case(address))
    }))
}

/// Replaces a contact as a whole (PUT): top-level fields left out are cleared, sub-resources
/// left out are kept. A deleted contact is revived only when update_source is Account.
#[method(id = "contacts.update", name = "Replace Contact", idempotent)]
pub fn update(cx: &mut Context<'_>, input: UpdateContactInput) -> Result<Contact> {
    API.call(
        cx,
        HttpRequest::put(contact_path(&input.contact_id)?).json(&input)?,
    )
}

/// Input of `contacts.delete` and `contacts.sms_engagement_history`: the contact's id.
#[input]
pub struct DeleteContactInput {
    /// The contact's id.
    pub contact_id: String,
}

/// Deletes a contact (it can be revived later by a create-or-update, an import or a replace
/// with update_source Account).
#[method(id = "contacts.delete", name = "Delete Contact", idempotent)]
pub fn delete(cx: &mut Context<'_>, input: DeleteContactInput) -> Result<Deleted> {
    API.send(cx, HttpRequest::delete(contact_path(&input.contact_id)?))?;
    Ok(Deleted {
        id: input.contact_id,
    })
}

/// Input of `contacts.resubscribe`.
#[input]
pub struct ResubscribeInput {
    /// The unsubscribed contact's id.
    #[serde(skip_serializing)]
    pub contact_id: String,
    /// The lists to add the contact back to (at least one).
    #[schemars(length(min = 1))]
    pub list_ids: Vec<String>,
}

/// Asks an unsubscribed contact to resubscribe: the API emails them a confirmation link, and
/// only their click resubscribes them to `list_ids` (the API allows it once per contact).
#[method(id = "contacts.resubscribe", name = "Resubscribe Contact")]
pub fn resubscribe(cx: &mut Context<'_>, input: ResubscribeInput) -> Result<Resubscribed> {
    let path = format!(
        "/contacts/resubscribe/{}",
        segment("contact_id", &input.contact_id)?
    );
    API.send(cx, HttpRequest::put(path).json(&input)?)?;
    Ok(Resubscribed {
        contact_id: input.contact_id,
    })
}

/// What `contacts.resubscribe` did: the confirmation email is on its way.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Resubscribed {
    /// The contact asked to resubscribe.
    pub contact_id: String,
}

/// A custom field value for the sign-up form.
#[input]
#[derive(Clone)]
pub struct SignUpCustomField {
    /// The custom field's id.
    pub custom_field_id: String,
    /// The value (up to 255 characters).
    #[schemars(length(max = 255))]
    pub value: String,
}

/// Input of `contacts.create_or_update`.
#[input]
#[derive(Clone)]
pub struct CreateOrUpdateInput {
    /// The email address that identifies the contact (up to 50 characters); `sms_channel`
    /// identifies it when there is none.
    #[schemars(length(max = 50))]
    pub email_address: Option<String>,
    /// The SMS number and its consents; identifies the contact when there is no email address.
    pub sms_channel: Option<SignUpSmsChannelInput>,
    /// Lists to add the contact to (1-50 list ids); existing memberships are kept.
    #[schemars(length(min = 1, max = 50))]
    pub list_memberships: Vec<String>,
    /// First name (up to 50 characters).
    #[schemars(length(max = 50))]
    pub first_name: Option<String>,
    /// Last name (up to 50 characters).
    #[schemars(length(max = 50))]
    pub last_name: Option<String>,
    /// Job title (up to 50 characters).
    #[schemars(length(max = 50))]
    pub job_title: Option<String>,
    /// Company name (up to 50 characters).
    #[schemars(length(max = 50))]
    pub company_name: Option<String>,
    /// Phone number (up to 25 characters).
    #[schemars(length(max = 25))]
    pub phone_number: Option<String>,
    /// Anniversary date, e.g. `2006-11-15`.
    pub anniversary: Option<String>,
    /// Birthday month, 1-12 (with `birthday_day`).
    #[schemars(range(min = 1, max = 12))]
    pub birthday_month: Option<u8>,
    /// Birthday day, 1-31 (with `birthday_month`).
    #[schemars(range(min = 1, max = 31))]
    pub birthday_day: Option<u8>,
    /// One street address.
    pub street_address: Option<StreetAddressInput>,
    /// Custom field values to add (up to 50); existing values of other fields are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub custom_fields: Vec<SignUpCustomField>,
}

/// What `contacts.create_or_update` did: the API's answer, and whether it created the contact.
#[output]
pub struct CreateOrUpdateOutput {
    /// The contact's id.
    pub contact_id: String,
    /// Whether a new contact was created (HTTP 201) rather than an existing one updated (200).
    pub created: bool,
    /// `created` or `updated`.
    pub action: String,
}

/// The API's answer to a sign-up.
#[output]
struct SignUpAnswer {
    contact_id: String,
}

/// Creates a contact, or updates the one with this email address or SMS number (only the fields
/// given; lists and custom fields are added), and says which. Needs the contact's own consent. A
/// 409 (simultaneous changes to the contact) is retried a few times.
///
/// Sent twice, it leaves the account as one call does (the contact, the given fields, the lists
/// added), so it is idempotent and a call whose answer was lost can be sent again; only
/// `created` may then read `false` for a contact the lost call created.
#[method(id = "contacts.create_or_update", name = "Create or Update Contact", idempotent)]
pub fn create_or_update(
    cx: &mut Context<'_>,
    input: CreateOrUpdateInput,
) -> Result<CreateOrUpdateOutput> {
    if input.email_address.is_none() && input.sms_channel.is_none() {
        return Err(ConnectorError::InvalidInput {
            message: "`email_address` or `sms_channel` is needed: one of them identifies the \
                      contact"
                .into(),
        });
    }
    let request = HttpRequest::post("/contacts/sign_up_form").json(&input)?;
    let response = API.errors().check(send_unless_conflicting(cx, &request)?)?;
    let mut answer: SignUpAnswer = response.decode()?;
    // The status says which it was; the API's own `action` is replaced, not repeated.
    answer.unnamed.remove("action");
    let created = response.status == 201;
    Ok(CreateOrUpdateOutput {
        contact_id: answer.contact_id,
        created,
        action: if created { "created" } else { "updated" }.to_owned(),
        unnamed: answer.unnamed,
    })
}

/// Sends a sign-up, sending it again (after 0.5 s, 1 s, 2 s) while the API answers 409: per the
/// spec that means simultaneous requests were modifying the same contact, which passes, and the
/// refused request changed nothing. The last answer is returned whatever it is.
fn send_unless_conflicting(cx: &Context<'_>, request: &HttpRequest) -> Result<HttpResponse> {
    let mut delay = FIRST_CONFLICT_DELAY;
    let mut response = cx.send(request.clone())?;
    for retry in 1..=CONFLICT_RETRIES {
        if response.status != 409 {
            break;
        }
        cx.log(
            LogLevel::Info,
            &format!(
                "contacts.create_or_update: the contact is being changed by another request \
                 (409); sending again in {} ms ({retry} of {CONFLICT_RETRIES})",
                delay.as_millis()
            ),
        );
        cx.sleep(delay)?;
        delay *= 2;
        response = cx.send(request.clone())?;
    }
    Ok(response)
}

/// Input of `contacts.counts`.
#[input]
#[derive(Default)]
pub struct CountsInput {
    /// Also count new subscribers.
    #[serde(default)]
    pub include_new_subscriber: bool,
}

/// Contacts by email consent.
#[output]
pub struct ContactCounts {
    /// Every contact of the account.
    pub total: Option<i64>,
    /// Contacts with explicit consent.
    pub explicit: Option<i64>,
    /// Contacts with implicit consent.
    pub implicit: Option<i64>,
    /// Contacts pending confirmation.
    pub pending: Option<i64>,
    /// Contacts that unsubscribed.
    pub unsubscribed: Option<i64>,
    /// New subscribers, when asked for.
    pub new_subscriber: Option<i64>,
}

/// Counts the account's contacts by email consent (explicit, implicit, pending, unsubscribed).
#[method(id = "contacts.counts", name = "Count Contacts", idempotent)]
pub fn counts(cx: &mut Context<'_>, input: CountsInput) -> Result<ContactCounts> {
    let include = input.include_new_subscriber.then_some("new_subscriber");
    API.call(
        cx,
        HttpRequest::get("/contacts/counts").query_opt("include", include),
    )
}
