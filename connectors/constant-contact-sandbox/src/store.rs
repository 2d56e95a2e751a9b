//! The sandbox's in-memory account: contacts (indexed by `(updated_at, id)`, by email and by SMS
//! number so that a page costs O(page), not O(all contacts)), lists, tags, custom fields,
//! segments, bulk activities, email campaigns ([`crate::campaign`]) and the account's own details
//! ([`crate::account`]).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::account::Account;
use crate::campaign::Campaign;
use crate::util::{now_ms, uuid};

/// A contact's email address and its consent state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmailAddr {
    /// The address (unique in the account, compared case-insensitively).
    pub address: String,
    /// explicit | implicit | not_set | pending_confirmation | temp_hold | unsubscribed.
    pub permission_to_send: String,
    /// Contact | Account.
    pub opt_in_source: Option<String>,
    /// When the contact opted in.
    pub opt_in_date: Option<i64>,
    /// Contact | Account, when unsubscribed.
    pub opt_out_source: Option<String>,
    /// When the contact unsubscribed.
    pub opt_out_date: Option<i64>,
    /// Why the contact unsubscribed.
    pub opt_out_reason: Option<String>,
    /// pending | confirmed | off.
    pub confirm_status: String,
    /// When the address was added.
    pub created_at: i64,
    /// When the address last changed.
    pub updated_at: i64,
    /// Whether a resubscribe email was sent (the service sends one once per contact).
    pub resubscribe_requested: bool,
}

/// One of a contact's phone numbers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Phone {
    /// UUID of the phone number.
    pub id: String,
    /// The number as given.
    pub number: String,
    /// home | work | mobile | other.
    pub kind: String,
    /// When it was added.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
    /// Contact | Account: who added it.
    pub create_source: String,
    /// Contact | Account: who changed it last.
    pub update_source: String,
}

/// A contact's consent to one kind of SMS.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SmsConsent {
    /// explicit | unsubscribed | pending_confirmation | not_set.
    pub permission: String,
    /// promotional_sms.
    pub consent_type: String,
    /// When the contact opted in.
    pub opt_in_date: Option<i64>,
    /// When the contact opted out.
    pub opt_out_date: Option<i64>,
    /// How many messages the contact was told to expect…
    pub advertised_frequency: Option<String>,
    /// …per this interval (daily, weekly, monthly).
    pub advertised_interval: Option<String>,
    /// When the consent was recorded.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// A contact's SMS channel: one US number and its consents.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SmsChannel {
    /// UUID.
    pub id: String,
    /// The national number, digits only.
    pub address: String,
    /// The country's dial code (`1`).
    pub dial_code: String,
    /// The country (`US`).
    pub country_code: String,
    /// Contact | Account.
    pub create_source: String,
    /// Contact | Account.
    pub update_source: String,
    /// Its consents.
    pub consents: Vec<SmsConsent>,
}

impl SmsChannel {
    /// The number with its dial code, the key the account indexes SMS numbers by.
    pub fn full_address(&self) -> String {
        format!("{}{}", self.dial_code, self.address)
    }

    /// The SMS status the `sms_status` filter compares with.
    pub fn status(&self) -> &str {
        self.consents
            .first()
            .map_or("not_set", |c| c.permission.as_str())
    }
}

/// One of a contact's street addresses.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Address {
    /// UUID of the address.
    pub id: String,
    /// home | work | other.
    pub kind: String,
    /// Street line.
    pub street: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State or province.
    pub state: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// When it was added.
    pub created_at: i64,
}

/// A note on a contact.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Note {
    /// UUID of the note.
    pub id: String,
    /// The text.
    pub content: String,
    /// When it was written.
    pub created_at: i64,
}

/// A contact as the sandbox stores it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Contact {
    /// UUID.
    pub id: String,
    /// The email address, if any.
    pub email: Option<EmailAddr>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Company name.
    pub company_name: Option<String>,
    /// Birthday month, 1–12.
    pub birthday_month: Option<i64>,
    /// Birthday day, 1–31.
    pub birthday_day: Option<i64>,
    /// Anniversary date as given.
    pub anniversary: Option<String>,
    /// Contact | Account.
    pub create_source: String,
    /// Contact | Account.
    pub update_source: String,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Last update, epoch ms (the paging index key).
    pub updated_at: i64,
    /// Deletion time; deleted contacts are kept and can be revived.
    pub deleted_at: Option<i64>,
    /// `(custom_field_id, value)` pairs.
    pub custom_fields: Vec<(String, String)>,
    /// Phone numbers (≤ 3).
    pub phone_numbers: Vec<Phone>,
    /// Street addresses (≤ 3).
    pub street_addresses: Vec<Address>,
    /// List ids (≤ 50).
    pub list_memberships: Vec<String>,
    /// Tag ids (≤ 50).
    pub taggings: Vec<String>,
    /// Notes.
    pub notes: Vec<Note>,
    /// The SMS channel, if the contact has a number for SMS.
    pub sms: Option<SmsChannel>,
}

impl Contact {
    /// The status the `status` filter of `GET /contacts` compares with.
    pub fn status(&self) -> &str {
        if self.deleted_at.is_some() {
            return "deleted";
        }
        self.email
            .as_ref()
            .map_or("not_set", |e| e.permission_to_send.as_str())
    }

    /// The SMS status the `sms_status` filter of `GET /contacts` compares with.
    pub fn sms_status(&self) -> &str {
        self.sms.as_ref().map_or("not_set", SmsChannel::status)
    }
}

/// A contact list.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContactList {
    /// UUID.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Favourite flag.
    pub favorite: bool,
    /// Creation time.
    pub created_at: i64,
    /// Last update.
    pub updated_at: i64,
}

/// A tag.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tag {
    /// UUID.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Where the tag came from.
    pub tag_source: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last update.
    pub updated_at: i64,
}

/// A custom field definition.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CustomField {
    /// UUID.
    pub id: String,
    /// Display label.
    pub label: String,
    /// Name derived from the label (used as `cf:<name>` in imports).
    pub name: String,
    /// string | date | number | …
    pub kind: String,
    /// Creation time.
    pub created_at: i64,
    /// Last update.
    pub updated_at: i64,
}

/// A segment (integer id): contacts selected by its criteria ([`crate::criteria`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Segment {
    /// Integer id.
    pub id: i64,
    /// Unique name (among segments not deleted).
    pub name: String,
    /// The criteria as given (escaped JSON).
    pub criteria: String,
    /// Creation time.
    pub created_at: i64,
    /// Last edit.
    pub edited_at: i64,
    /// Deletion time: deleted segments are not listed but can still be read by id.
    pub deleted_at: Option<i64>,
}

/// What a contact export selected: its rows (contacts) and columns (fields).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportJob {
    /// The contacts exported, in file order.
    pub contact_ids: Vec<String>,
    /// The columns, in file order.
    pub fields: Vec<String>,
}

/// A bulk activity (asynchronous job); its work is done when it is created and its state
/// advances on reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Activity {
    /// UUID.
    pub id: String,
    /// When it was created (epoch ms).
    pub created_at: i64,
    /// When it was created (monotonic, for the state's progression).
    #[serde(skip, default = "Instant::now")]
    pub created_instant: Instant,
    /// How many times it was read.
    pub reads: u32,
    /// The `status` object of the finished activity.
    pub status: Value,
    /// Error messages of the finished activity.
    pub errors: Vec<String>,
    /// Whether a read has shown it completed (an export's file can be fetched from then on).
    pub completed_seen: bool,
    /// The export it made, for a contact export.
    pub export: Option<ExportJob>,
}

/// The whole account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Store {
    /// Contacts by id.
    pub contacts: HashMap<String, Contact>,
    /// `(updated_at, id)` of every contact: the paging order.
    pub by_updated: BTreeSet<(i64, String)>,
    /// Lower-cased email → contact id.
    pub by_email: HashMap<String, String>,
    /// SMS number with its dial code → contact id.
    pub by_sms: HashMap<String, String>,
    /// Lists, oldest first.
    pub lists: Vec<ContactList>,
    /// Tags, oldest first.
    pub tags: Vec<Tag>,
    /// Custom fields, oldest first.
    pub custom_fields: Vec<CustomField>,
    /// Segments, oldest first.
    pub segments: Vec<Segment>,
    /// Bulk activities, oldest first.
    pub activities: Vec<Activity>,
    /// Email campaigns, oldest first.
    pub campaigns: Vec<Campaign>,
    /// Automation workflows, oldest first, each as the API shows it (`AutomationCampaign`);
    /// absent from snapshots written before automations were served.
    #[serde(default)]
    pub automations: Vec<serde_json::Value>,
    /// The account's details, emails and physical address.
    pub account: Account,
    /// Seed of what recipients do with the emails sent ([`crate::engagement`]).
    pub engagement_seed: u64,
    /// Generator of new ids.
    #[serde(with = "rng_state")]
    pub rng: fastrand::Rng,
    last_ms: i64,
}

impl Store {
    /// An empty account whose new ids come from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            contacts: HashMap::new(),
            by_updated: BTreeSet::new(),
            by_email: HashMap::new(),
            by_sms: HashMap::new(),
            lists: Vec::new(),
            tags: Vec::new(),
            custom_fields: Vec::new(),
            segments: Vec::new(),
            activities: Vec::new(),
            campaigns: Vec::new(),
            automations: Vec::new(),
            account: Account::seeded(),
            engagement_seed: seed,
            rng: fastrand::Rng::with_seed(seed ^ 0x0005_EED0_F1D5),
            last_ms: 0,
        }
    }

    /// The timestamp of a write now: never earlier than the previous write's.
    pub fn tick(&mut self) -> i64 {
        self.last_ms = now_ms().max(self.last_ms);
        self.last_ms
    }

    /// A new UUID.
    pub fn new_id(&mut self) -> String {
        uuid(&mut self.rng)
    }

    /// Adds a contact (its id, email and SMS number must be new).
    pub fn insert_contact(&mut self, contact: Contact) {
        if let Some(email) = &contact.email {
            self.by_email
                .insert(email.address.to_lowercase(), contact.id.clone());
        }
        if let Some(sms) = &contact.sms {
            self.by_sms.insert(sms.full_address(), contact.id.clone());
        }
        self.by_updated
            .insert((contact.updated_at, contact.id.clone()));
        self.contacts.insert(contact.id.clone(), contact);
    }

    /// The contact with this email (deleted ones included).
    pub fn contact_id_by_email(&self, email: &str) -> Option<&String> {
        self.by_email.get(&email.to_lowercase())
    }

    /// The contact with this SMS number (dial code and number, digits only).
    pub fn contact_id_by_sms(&self, full_address: &str) -> Option<&String> {
        self.by_sms.get(full_address)
    }

    /// Changes a contact, keeping the indexes right and stamping `updated_at` with now.
    pub fn update_contact(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut Contact),
    ) -> Option<&Contact> {
        let now = self.tick();
        self.update_contact_at(id, now, change)
    }

    /// Changes a contact, keeping the indexes right and stamping `updated_at` with `at`.
    pub fn update_contact_at(
        &mut self,
        id: &str,
        at: i64,
        change: impl FnOnce(&mut Contact),
    ) -> Option<&Contact> {
        let contact = self.contacts.get_mut(id)?;
        let old_key = (contact.updated_at, contact.id.clone());
        let old_email = contact.email.as_ref().map(|e| e.address.to_lowercase());
        let old_sms = contact.sms.as_ref().map(SmsChannel::full_address);
        change(contact);
        contact.updated_at = at;
        let new_email = contact.email.as_ref().map(|e| e.address.to_lowercase());
        let new_sms = contact.sms.as_ref().map(SmsChannel::full_address);
        self.by_updated.remove(&old_key);
        self.by_updated.insert((at, id.to_owned()));
        if old_email != new_email {
            if let Some(old) = old_email {
                self.by_email.remove(&old);
            }
            if let Some(new) = new_email {
                self.by_email.insert(new, id.to_owned());
            }
        }
        if old_sms != new_sms {
            if let Some(old) = old_sms {
                self.by_sms.remove(&old);
            }
            if let Some(new) = new_sms {
                self.by_sms.insert(new, id.to_owned());
            }
        }
        self.contacts.get(id)
    }

    /// The list with this id.
    pub fn list(&self, id: &str) -> Option<&ContactList> {
        self.lists.iter().find(|l| l.id == id)
    }

    /// Every id in `ids` that is not a list.
    pub fn unknown_lists<'a>(&self, ids: &'a [String]) -> Vec<&'a str> {
        ids.iter()
            .filter(|id| self.list(id).is_none())
            .map(String::as_str)
            .collect()
    }

    /// Records a finished bulk activity and returns its index.
    pub fn add_activity(&mut self, status: Value, errors: Vec<String>) -> usize {
        let id = self.new_id();
        let created_at = self.tick();
        self.activities.push(Activity {
            id,
            created_at,
            created_instant: Instant::now(),
            reads: 0,
            status,
            errors,
            completed_seen: false,
            export: None,
        });
        self.activities.len() - 1
    }
}

/// The generator's state as a number, so a restored account draws the ids it would have drawn
/// next instead of repeating ids it already handed out.
mod rng_state {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(rng: &fastrand::Rng, serializer: S) -> Result<S::Ok, S::Error> {
        rng.get_seed().serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<fastrand::Rng, D::Error> {
        u64::deserialize(deserializer).map(fastrand::Rng::with_seed)
    }
}
