//! Importing contacts: any number of them, encoded as they are read, split into requests within
//! the API's count and size limits, optionally waiting for each import to finish.

use std::collections::BTreeMap;

use plugboard_core::{
    ConnectorError, Context, HttpRequest, LogLevel, Result, choice, input, method,
};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{Activity, wait_budget, wait_until_final};
use crate::api::API;

/// The most contacts one `contacts_json_import` request may carry (the API's documented limit).
pub const MAX_CONTACTS_PER_IMPORT: usize = 40_000;
/// Every import body is kept strictly below this many bytes. The API documents "4 megabytes" and
/// silently drops what lies beyond; the decimal reading (4,000,000) is the stricter of the two, so
/// it is safe whichever the API means.
pub const MAX_IMPORT_BODY_BYTES: usize = 4_000_000;
/// Phone numbers one imported contact may carry (the spec's limit).
pub(super) const MAX_PHONES_PER_IMPORTED_CONTACT: usize = 3;
/// "For each contact, you can import up to three addresses" (the operation's description).
pub(super) const MAX_ADDRESSES_PER_IMPORTED_CONTACT: usize = 3;
/// Custom field values one imported contact may carry (the spec's limit).
pub(super) const MAX_CUSTOM_FIELDS_PER_IMPORTED_CONTACT: usize = 25;

/// Whether imported contacts gave explicit consent to SMS.
#[choice]
pub enum SmsPermission {
    /// The contacts agreed explicitly; each needs an `sms_consent_date`.
    Explicit,
    /// No SMS permission.
    NotSet,
}

impl SmsPermission {
    /// The value as the API spells it (a multipart form field is text); the same as its JSON,
    /// which a test checks.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Explicit => "explicit",
            Self::NotSet => "not_set",
        }
    }
}

/// One contact to import, with the flat field names of the JSON import.
#[input]
#[derive(Clone, Default)]
pub struct ImportContact {
    /// Email address; identifies the contact (required unless `sms_number` is given).
    #[schemars(length(max = 50))]
    pub email: Option<String>,
    /// First name.
    #[schemars(length(max = 50))]
    pub first_name: Option<String>,
    /// Last name.
    #[schemars(length(max = 50))]
    pub last_name: Option<String>,
    /// Job title.
    #[schemars(length(max = 50))]
    pub job_title: Option<String>,
    /// Company name.
    #[schemars(length(max = 50))]
    pub company_name: Option<String>,
    /// Birthday month, 1-12 (needs `birthday_day`).
    pub birthday_month: Option<u8>,
    /// Birthday day, 1-31 (needs `birthday_month`).
    pub birthday_day: Option<u8>,
    /// Anniversary date, e.g. `2006-11-15`.
    pub anniversary: Option<String>,
    /// Primary phone number (kind `other`).
    #[schemars(length(max = 50))]
    pub phone: Option<String>,
    /// Home phone number.
    #[schemars(length(max = 50))]
    pub home_phone: Option<String>,
    /// Work phone number.
    #[schemars(length(max = 50))]
    pub work_phone: Option<String>,
    /// Mobile phone number.
    #[schemars(length(max = 50))]
    pub mobile_phone: Option<String>,
    /// Another phone number.
    #[schemars(length(max = 50))]
    pub other_phone: Option<String>,
    /// Line 1 of the primary (home) street address.
    #[schemars(length(max = 255))]
    pub street: Option<String>,
    /// Line 2 of the primary street address.
    #[schemars(length(max = 255))]
    pub street2: Option<String>,
    /// City of the primary address.
    #[schemars(length(max = 50))]
    pub city: Option<String>,
    /// State or province of the primary address.
    #[schemars(length(max = 50))]
    pub state: Option<String>,
    /// Zip or postal code of the primary address.
    #[schemars(length(max = 50))]
    pub zip: Option<String>,
    /// Country of the primary address.
    #[schemars(length(max = 50))]
    pub country: Option<String>,
    /// Line 1 of the home street address.
    #[schemars(length(max = 255))]
    pub home_street: Option<String>,
    /// Line 2 of the home street address.
    #[schemars(length(max = 255))]
    pub home_street2: Option<String>,
    /// City of the home address.
    #[schemars(length(max = 50))]
    pub home_city: Option<String>,
    /// State or province of the home address.
    #[schemars(length(max = 50))]
    pub home_state: Option<String>,
    /// Zip or postal code of the home address.
    #[schemars(length(max = 50))]
    pub home_zip: Option<String>,
    /// Country of the home address. (The spec spells this key `home country`, with a space, unlike
    /// `work_country` and `other_country`; the underscore form is sent.)
    #[schemars(length(max = 50))]
    pub home_country: Option<String>,
    /// Line 1 of the work street address.
    #[schemars(length(max = 255))]
    pub work_street: Option<String>,
    /// Line 2 of the work street address.
    #[schemars(length(max = 255))]
    pub work_street2: Option<String>,
    /// City of the work address.
    #[schemars(length(max = 50))]
    pub work_city: Option<String>,
    /// State or province of the work address.
    #[schemars(length(max = 50))]
    pub work_state: Option<String>,
    /// Zip or postal code of the work address.
    #[schemars(length(max = 50))]
    pub work_zip: Option<String>,
    /// Country of the work address.
    #[schemars(length(max = 50))]
    pub work_country: Option<String>,
    /// Line 1 of the other street address.
    #[schemars(length(max = 255))]
    pub other_street: Option<String>,
    /// Line 2 of the other street address.
    #[schemars(length(max = 255))]
    pub other_street2: Option<String>,
    /// City of the other address.
    #[schemars(length(max = 50))]
    pub other_city: Option<String>,
    /// State or province of the other address.
    #[schemars(length(max = 50))]
    pub other_state: Option<String>,
    /// Zip or postal code of the other address.
    #[schemars(length(max = 50))]
    pub other_zip: Option<String>,
    /// Country of the other address.
    #[schemars(length(max = 50))]
    pub other_country: Option<String>,
    /// US phone number for SMS (required unless `email` is given).
    #[schemars(length(max = 16))]
    pub sms_number: Option<String>,
    /// When the contact consented to SMS, e.g. `2024-07-03` (needed with explicit SMS permission).
    #[schemars(length(max = 16))]
    pub sms_consent_date: Option<String>,
    /// Custom field values by the custom field's name (not its label); sent as `cf:<name>`. The
    /// fields must already exist in the account; at most 25 per contact.
    #[serde(default, skip_serializing)]
    #[schemars(extend("additionalProperties" = {"type": "string", "maxLength": 255}))]
    pub custom_fields: BTreeMap<String, String>,
}

impl ImportContact {
    /// The contact as the API's flat JSON object (custom fields prefixed with `cf:`), encoded
    /// compactly, as the import body carries it.
    fn encode(self, index: usize) -> Result<Box<str>, String> {
        if self.email.is_none() && self.sms_number.is_none() {
            return Err(format!(
                "contacts[{index}] needs an `email` or an `sms_number`"
            ));
        }
        let phones = [
            &self.phone,
            &self.home_phone,
            &self.work_phone,
            &self.mobile_phone,
            &self.other_phone,
        ];
        let given = phones.iter().filter(|phone| phone.is_some()).count();
        if given > MAX_PHONES_PER_IMPORTED_CONTACT {
            return Err(format!(
                "`contacts[{index}]` has {given} phone numbers; the import takes at most \
                 {MAX_PHONES_PER_IMPORTED_CONTACT} per contact"
            ));
        }
        // An address counts when any of its parts is given.
        let addresses = [
            [
                &self.street,
                &self.street2,
                &self.city,
                &self.state,
                &self.zip,
                &self.country,
            ],
            [
                &self.home_street,
                &self.home_street2,
                &self.home_city,
                &self.home_state,
                &self.home_zip,
                &self.home_country,
            ],
            [
                &self.work_street,
                &self.work_street2,
                &self.work_city,
                &self.work_state,
                &self.work_zip,
                &self.work_country,
            ],
            [
                &self.other_street,
                &self.other_street2,
                &self.other_city,
                &self.other_state,
                &self.other_zip,
                &self.other_country,
            ],
        ];
        let given = addresses
            .iter()
            .filter(|parts| parts.iter().any(|part| part.is_some()))
            .count();
        if given > MAX_ADDRESSES_PER_IMPORTED_CONTACT {
            return Err(format!(
                "`contacts[{index}]` has {given} addresses; the import takes at most \
                 {MAX_ADDRESSES_PER_IMPORTED_CONTACT} per contact"
            ));
        }
        if self.custom_fields.len() > MAX_CUSTOM_FIELDS_PER_IMPORTED_CONTACT {
            return Err(format!(
                "`contacts[{index}].custom_fields` has {} fields; the import takes at most \
                 {MAX_CUSTOM_FIELDS_PER_IMPORTED_CONTACT} per contact",
                self.custom_fields.len()
            ));
        }
        let cannot = |e: serde_json::Error| format!("contacts[{index}] cannot be encoded: {e}");
        let Value::Object(mut object) = serde_json::to_value(&self).map_err(cannot)? else {
            return Err(format!("contacts[{index}] is not an object"));
        };
        for (name, value) in self.custom_fields {
            object.insert(format!("cf:{name}"), Value::String(value));
        }
        serde_json::to_string(&object)
            .map(String::into_boxed_str)
            .map_err(cannot)
    }
}

/// The contacts of an import, each checked and encoded as compact JSON as it is read.
///
/// A typed contact takes about 1 KB (some 40 optional fields, mostly empty) where its encoding
/// takes about 150 bytes; a workflow batch of 40,000 contacts held typed, then as JSON values,
/// cost some 70 MB more than these strings.
#[derive(Debug, Default)]
pub struct EncodedContacts(Vec<Box<str>>);

impl<'de> Deserialize<'de> for EncodedContacts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Contacts;

        impl<'de> serde::de::Visitor<'de> for Contacts {
            type Value = EncodedContacts;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of contacts")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<EncodedContacts, A::Error> {
                let hint = seq.size_hint().unwrap_or(0);
                let mut encoded = Vec::with_capacity(hint.min(MAX_CONTACTS_PER_IMPORT));
                while let Some(contact) = seq.next_element::<ImportContact>()? {
                    let text = contact
                        .encode(encoded.len())
                        .map_err(serde::de::Error::custom)?;
                    encoded.push(text);
                }
                Ok(EncodedContacts(encoded))
            }
        }

        deserializer.deserialize_seq(Contacts)
    }
}

/// Input of `bulk.import_contacts`.
#[input]
pub struct ImportContactsInput {
    /// The contacts to import, any number: they are split into imports of at most 40,000 contacts
    /// and under 4 MB each. Existing contacts (same email) are updated for the fields given.
    // Kept as the request's encoding when read (see `EncodedContacts`), never written back.
    #[serde(skip_serializing)]
    #[schemars(with = "Vec<ImportContact>")]
    pub contacts: EncodedContacts,
    /// The lists every imported contact is added to (1-50 list ids).
    #[schemars(length(min = 1, max = 50))]
    pub list_ids: Vec<String>,
    /// Whether the contacts gave explicit SMS consent.
    pub sms_permission_to_send: Option<SmsPermission>,
    /// Wait until every import is completed, failed, cancelled or timed out.
    #[serde(default)]
    pub wait: bool,
    /// With `wait`, how long to keep polling each import, in seconds (default 600, at most 3600).
    #[schemars(range(min = 0, max = 3600))]
    pub timeout_secs: Option<u64>,
}

/// What an import (`bulk.import_contacts` or `bulk.import_contacts_csv`) started.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ImportContactsOutput {
    /// The id of every import activity created, in the order of the contacts they carry.
    pub activity_ids: Vec<String>,
    /// Every import activity: as created, or in its final state when `wait` was asked for.
    pub activities: Vec<Activity>,
    /// How many contacts were sent.
    pub contacts: u64,
}

/// The envelope of one import request, without its contacts.
#[derive(Serialize)]
struct ImportBody<'a> {
    import_data: Vec<Value>,
    list_ids: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    sms_permission_to_send: Option<SmsPermission>,
}

impl ImportBody<'_> {
    /// The body as a JSON value, the contacts moved into it rather than copied: an import carries
    /// up to 40,000 of them.
    fn into_json(self) -> Result<Value> {
        let Value::Object(mut body) = serde_json::to_value(ImportBody {
            import_data: Vec::new(),
            ..self
        })
        .map_err(|e| ConnectorError::InvalidInput {
            message: format!("cannot encode the import as JSON: {e}"),
        })?
        else {
            return Err(ConnectorError::InvalidInput {
                message: "the import envelope is not a JSON object".into(),
            });
        };
        // `import_data` first, as the API documents it (and as the serialized struct had it).
        body.shift_remove("import_data");
        let mut ordered = Map::with_capacity(body.len() + 1);
        ordered.insert("import_data".to_owned(), Value::Array(self.import_data));
        ordered.append(&mut body);
        Ok(Value::Object(ordered))
    }
}

/// Checks what every import needs: something to import (`what`, `count` of them) and 1 to 50
/// lists to add it to.
pub(super) fn check_import(what: &str, count: usize, list_ids: &[String]) -> Result<()> {
    let problem = if count == 0 {
        format!("`{what}` is empty: nothing to import")
    } else if list_ids.is_empty() || list_ids.len() > 50 {
        format!("`list_ids` needs 1 to 50 list ids, got {}", list_ids.len())
    } else {
        return Ok(());
    };
    Err(ConnectorError::InvalidInput { message: problem })
}

/// Splits encoded items (`what[i]` in errors) into batches of at most `max_items` whose body (a
/// fixed `fixed_len` bytes plus the items, `separator_len` bytes between two) stays below
/// `max_bytes`: a JSON import's contacts with their commas, a CSV file's records after its header.
pub(super) fn split_within(
    what: &str,
    items: Vec<Box<str>>,
    fixed_len: usize,
    max_items: usize,
    max_bytes: usize,
    separator_len: usize,
) -> Result<Vec<Vec<Box<str>>>> {
    let mut batches = Vec::new();
    let mut batch: Vec<Box<str>> = Vec::new();
    let mut size = fixed_len;
    for (index, item) in items.into_iter().enumerate() {
        let len = item.len();
        if fixed_len + len >= max_bytes {
            return Err(ConnectorError::InvalidInput {
                message: format!(
                    "{what}[{index}] alone takes {len} bytes, too large for an import body \
                     (under {max_bytes} bytes)"
                ),
            });
        }
        let separator = if batch.is_empty() { 0 } else { separator_len };
        if batch.len() == max_items || size + separator + len >= max_bytes {
            batches.push(std::mem::take(&mut batch));
            size = fixed_len;
        }
        size += if batch.is_empty() { 0 } else { separator_len } + len;
        batch.push(item);
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    Ok(batches)
}

/// Sends each import request (with the number of contacts it carries) in turn, logging each
/// activity and, when one fails, the ones already started; then waits for all when asked.
pub(super) fn start_imports(
    cx: &mut Context<'_>,
    method: &str,
    requests: impl ExactSizeIterator<Item = (usize, Result<HttpRequest>)>,
    wait: bool,
    budget: std::time::Duration,
    contacts: u64,
) -> Result<ImportContactsOutput> {
    let count = requests.len();
    let mut activities: Vec<Activity> = Vec::with_capacity(count);
    for (number, (size, request)) in requests.enumerate() {
        let activity: Activity = match request.and_then(|request| API.send(cx, request)) {
            Ok(response) => response.decode()?,
            Err(error) => {
                if !activities.is_empty() {
                    let started: Vec<&str> =
                        activities.iter().map(|a| a.activity_id.as_str()).collect();
                    cx.log(
                        LogLevel::Warn,
                        &format!(
                            "{method}: import {} of {count} failed; imports already started: {}",
                            number + 1,
                            started.join(", ")
                        ),
                    );
                }
                return Err(error);
            }
        };
        cx.log(
            LogLevel::Info,
            &format!(
                "{method}: import {} of {count} ({size} contacts) is activity {}",
                number + 1,
                activity.activity_id
            ),
        );
        activities.push(activity);
    }
    if wait {
        activities = activities
            .into_iter()
            .map(|activity| {
                let id = activity.activity_id.clone();
                wait_until_final(cx, &id, Some(activity), budget)
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(ImportContactsOutput {
        activity_ids: activities.iter().map(|a| a.activity_id.clone()).collect(),
        activities,
        contacts,
    })
}

/// Imports or updates any number of contacts into lists, split into imports of at most 40,000
/// contacts and 4 MB; returns every import activity, optionally once done.
///
/// `POST /activities/contacts_json_import`, as many times as the limits require.
#[method(id = "bulk.import_contacts", name = "Import Contacts")]
pub fn import_contacts(
    cx: &mut Context<'_>,
    input: ImportContactsInput,
) -> Result<ImportContactsOutput> {
    check_import("contacts", input.contacts.0.len(), &input.list_ids)?;
    let budget = wait_budget(input.timeout_secs)?;
    let ImportContactsInput {
        contacts,
        list_ids,
        sms_permission_to_send,
        wait,
        ..
    } = input;
    let envelope = ImportBody {
        import_data: Vec::new(),
        list_ids: &list_ids,
        sms_permission_to_send,
    };
    let envelope_len = encoded_len(&envelope)?;
    let total = contacts.0.len() as u64;
    let batches = split_within(
        "contacts",
        contacts.0,
        envelope_len,
        MAX_CONTACTS_PER_IMPORT,
        MAX_IMPORT_BODY_BYTES,
        1,
    )?;
    // Decoded one import at a time, as it is sent: only that import's contacts exist as JSON
    // values.
    let requests = batches.into_iter().map(|encoded| {
        let size = encoded.len();
        let import_data = encoded
            .into_iter()
            .map(|contact| serde_json::from_str(&contact))
            .collect::<Result<Vec<Value>, _>>()
            .map_err(|e| ConnectorError::InvalidInput {
                message: format!("cannot encode the import as JSON: {e}"),
            });
        let body = import_data.and_then(|import_data| {
            ImportBody {
                import_data,
                list_ids: &list_ids,
                sms_permission_to_send,
            }
            .into_json()
        });
        let request =
            body.map(|body| HttpRequest::post("/activities/contacts_json_import").json_value(body));
        (size, request)
    });
    start_imports(cx, "bulk.import_contacts", requests, wait, budget, total)
}

/// The length of a value serialized as compact JSON, as the host sends it.
fn encoded_len<T: Serialize>(value: &T) -> Result<usize> {
    serde_json::to_vec(value)
        .map(|bytes| bytes.len())
        .map_err(|e| ConnectorError::InvalidInput {
            message: format!("cannot encode the import as JSON: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contacts(count: usize, len: usize) -> Vec<Box<str>> {
        (0..count)
            .map(|_| "x".repeat(len).into_boxed_str())
            .collect()
    }

    #[test]
    fn contacts_are_checked_and_encoded_as_they_are_read() {
        let input: ImportContactsInput = serde_json::from_value(serde_json::json!({
            "contacts": [{"email": "ada@example.com", "custom_fields": {"shoe_size": "38"}}],
            "list_ids": ["l1"]
        }))
        .expect("decodes");
        assert_eq!(
            &*input.contacts.0[0],
            r#"{"email":"ada@example.com","cf:shoe_size":"38"}"#
        );
        let missing = serde_json::from_value::<ImportContactsInput>(serde_json::json!({
            "contacts": [{"email": "ada@example.com"}, {"first_name": "Grace"}],
            "list_ids": ["l1"]
        }))
        .expect_err("the second contact has no address");
        assert!(
            missing
                .to_string()
                .contains("contacts[1] needs an `email` or an `sms_number`"),
            "{missing}"
        );
    }

    #[test]
    fn the_form_spelling_of_sms_permission_is_the_json_one() {
        for permission in [SmsPermission::Explicit, SmsPermission::NotSet] {
            assert_eq!(
                serde_json::to_value(permission).expect("encodes"),
                permission.as_str()
            );
        }
    }

    #[test]
    fn imports_split_by_count() {
        let batches = split_within(
            "contacts",
            contacts(40_001, 10),
            50,
            MAX_CONTACTS_PER_IMPORT,
            MAX_IMPORT_BODY_BYTES,
            1,
        )
        .expect("splits");
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [40_000, 1]);
    }

    #[test]
    fn imports_split_by_size_below_the_limit() {
        // 1,000-byte contacts: 3,995 fit (50 + 3,995 * 1,001 - 1 = 3,998,044), the next does not.
        let batches = split_within(
            "contacts",
            contacts(10_000, 1_000),
            50,
            MAX_CONTACTS_PER_IMPORT,
            MAX_IMPORT_BODY_BYTES,
            1,
        )
        .expect("splits");
        for batch in &batches {
            let size = 50 + batch.len() * 1_000 + batch.len() - 1;
            assert!(size < MAX_IMPORT_BODY_BYTES, "{size}");
        }
        assert_eq!(batches[0].len(), 3_995);
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 10_000);
    }

    #[test]
    fn a_contact_too_large_alone_is_refused() {
        assert!(
            split_within(
                "contacts",
                contacts(1, MAX_IMPORT_BODY_BYTES),
                50,
                MAX_CONTACTS_PER_IMPORT,
                MAX_IMPORT_BODY_BYTES,
                1
            )
            .is_err()
        );
    }
}
