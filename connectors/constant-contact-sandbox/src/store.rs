//! The sandbox's in-memory account: contacts (indexed by `(updated_at, id)` and by email so that a
//! page costs O(page), not O(all contacts)), lists, tags, custom fields, segments, bulk activities
//! and email campaigns.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// A segment (integer id); the sandbox's segments select the members of one list.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Segment {
    /// Integer id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// The list whose active members the segment selects.
    pub list_id: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last edit.
    pub edited_at: i64,
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
}

/// One activity of an email campaign (the primary email or its permalink).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CampaignActivity {
    /// UUID.
    pub id: String,
    /// primary_email | permalink.
    pub role: String,
    /// Sender name.
    pub from_name: String,
    /// Sender address.
    pub from_email: String,
    /// Reply-to address.
    pub reply_to_email: String,
    /// Subject line.
    pub subject: String,
    /// Preheader.
    pub preheader: Option<String>,
    /// HTML body.
    pub html_content: String,
    /// Format type (5: custom code).
    pub format_type: i64,
    /// Recipient lists.
    pub contact_list_ids: Vec<String>,
    /// Scheduled send dates.
    pub schedules: Vec<String>,
}

/// An email campaign.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Campaign {
    /// UUID.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Draft | Scheduled | Executing | Done | …
    pub status: String,
    /// Creation time.
    pub created_at: i64,
    /// Last update.
    pub updated_at: i64,
    /// Its activities.
    pub activities: Vec<CampaignActivity>,
    /// Unique counts for the summary report (sent campaigns only).
    pub counts: Option<[i64; 8]>,
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
            lists: Vec::new(),
            tags: Vec::new(),
            custom_fields: Vec::new(),
            segments: Vec::new(),
            activities: Vec::new(),
            campaigns: Vec::new(),
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

    /// Adds a contact (its id and email must be new).
    pub fn insert_contact(&mut self, contact: Contact) {
        if let Some(email) = &contact.email {
            self.by_email
                .insert(email.address.to_lowercase(), contact.id.clone());
        }
        self.by_updated
            .insert((contact.updated_at, contact.id.clone()));
        self.contacts.insert(contact.id.clone(), contact);
    }

    /// The contact with this email (deleted ones included).
    pub fn contact_id_by_email(&self, email: &str) -> Option<&String> {
        self.by_email.get(&email.to_lowercase())
    }

    /// Changes a contact, keeping the indexes right and stamping `updated_at`.
    pub fn update_contact(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut Contact),
    ) -> Option<&Contact> {
        let now = self.tick();
        let contact = self.contacts.get_mut(id)?;
        let old_key = (contact.updated_at, contact.id.clone());
        let old_email = contact.email.as_ref().map(|e| e.address.to_lowercase());
        change(contact);
        contact.updated_at = now;
        let new_email = contact.email.as_ref().map(|e| e.address.to_lowercase());
        self.by_updated.remove(&old_key);
        self.by_updated.insert((now, id.to_owned()));
        if old_email != new_email {
            if let Some(old) = old_email {
                self.by_email.remove(&old);
            }
            if let Some(new) = new_email {
                self.by_email.insert(new, id.to_owned());
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
