//! The account saved and restored whole, so that work done against one sandbox can go on against
//! another: a `--sandbox` run that failed is resumed against a new emulator holding exactly what
//! the first one held (the lists and contacts its completed steps created), not a fresh seed.
//!
//! Only the account is kept. Tokens, limits, faults and counters belong to one running server:
//! a restored sandbox issues new tokens to whoever connects to it.

use serde::{Deserialize, Serialize};

use crate::store::Store;

/// The format written by this version; an account saved by another is refused, not guessed at.
/// Format 2 added SMS channels, segment criteria, sends and their recipients, resends, export
/// jobs and the account's details.
const FORMAT: u32 = 2;

/// A sandbox account's data at one moment: contacts, lists, tags, custom fields, segments,
/// campaigns, bulk activities and the id generator. See [`Sandbox::account`](crate::Sandbox::account)
/// and [`SandboxConfig::account`](crate::SandboxConfig::account).
#[derive(Clone, Serialize, Deserialize)]
pub struct AccountSnapshot {
    format: u32,
    store: Store,
}

impl std::fmt::Debug for AccountSnapshot {
    // The sizes, not thousands of contacts in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSnapshot")
            .field("contacts", &self.store.contacts.len())
            .field("lists", &self.store.lists.len())
            .field("campaigns", &self.store.campaigns.len())
            .finish_non_exhaustive()
    }
}

/// Why saved account data cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not the JSON this module writes.
    #[error("not a saved sandbox account: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Written by a sandbox of another version.
    #[error("a saved sandbox account of format {found}; this sandbox reads format {FORMAT}")]
    OtherFormat {
        /// The format found.
        found: u32,
    },
}

impl AccountSnapshot {
    pub(crate) fn of(store: &Store) -> Self {
        Self {
            format: FORMAT,
            store: store.clone(),
        }
    }

    pub(crate) fn into_store(self) -> Store {
        self.store
    }

    /// The snapshot as compact JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Reads a snapshot written by [`AccountSnapshot::to_json`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, SnapshotError> {
        #[derive(Deserialize)]
        struct Header {
            format: u32,
        }
        let header: Header = serde_json::from_slice(bytes)?;
        if header.format != FORMAT {
            return Err(SnapshotError::OtherFormat {
                found: header.format,
            });
        }
        Ok(serde_json::from_slice(bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SandboxConfig;
    use crate::store::Store;

    #[test]
    fn a_restored_account_holds_the_same_data_and_draws_new_ids() {
        let config = SandboxConfig {
            contacts: 20,
            ..SandboxConfig::default()
        };
        let mut original = crate::seed::seed(&config);
        let saved = AccountSnapshot::of(&original).to_json().expect("encodes");
        let mut restored = AccountSnapshot::from_json(&saved)
            .expect("decodes")
            .into_store();
        assert_eq!(restored.contacts.len(), 20);
        assert_eq!(restored.by_updated, original.by_updated);
        assert_eq!(restored.lists.len(), original.lists.len());
        assert_eq!(
            restored.new_id(),
            original.new_id(),
            "the generator goes on"
        );
        let next = restored.new_id();
        assert!(!restored.contacts.contains_key(&next));
    }

    /// Everything a `--sandbox` run can change is kept: sends and their recipients, schedules,
    /// resends, segments, exports, the account's details, SMS channels.
    #[test]
    fn every_part_of_the_account_round_trips() {
        use crate::campaign::{Resend, Stamp};
        use crate::store::{ExportJob, SmsChannel};

        let config = SandboxConfig {
            contacts: 40,
            campaigns: 3,
            ..SandboxConfig::default()
        };
        let mut store = crate::seed::seed(&config);
        assert!(
            store.campaigns.iter().any(|c| c.last_sent().is_some()),
            "the seed sends campaigns"
        );
        let now = store.tick();
        let draft = store
            .campaigns
            .iter()
            .position(|c| c.last_sent().is_none())
            .expect("a draft campaign");
        store.campaigns[draft].activities[0].scheduled_at = Some(now + 60_000);
        store.campaigns[draft].resend = Some(Resend {
            id: store.new_id(),
            subject: "Again".into(),
            delay_days: Some(2),
            delay_minutes: 2880,
        });
        let sent = store
            .campaigns
            .iter()
            .position(|c| c.last_sent().is_some())
            .expect("a sent campaign");
        store.send(sent, 0, now, now, Stamp::Now);
        store.segments[0].deleted_at = Some(now);
        let index = store.add_activity(serde_json::json!({"items_total_count": 1}), Vec::new());
        store.activities[index].completed_seen = true;
        store.activities[index].export = Some(ExportJob {
            contact_ids: vec!["a".into()],
            fields: vec!["contact_id".into()],
        });
        store.account.summary.website = Some("https://changed.example".into());
        store.account.physical_address = None;
        store.account.test_sends = 7;
        let contact = store.by_updated.iter().next().map(|(_, id)| id.clone());
        let contact = contact.expect("a contact");
        store.update_contact(&contact, |c| {
            c.sms = Some(SmsChannel {
                id: "sms".into(),
                address: "7815550100".into(),
                dial_code: "1".into(),
                country_code: "US".into(),
                create_source: "Account".into(),
                update_source: "Account".into(),
                consents: Vec::new(),
            });
        });

        let saved = AccountSnapshot::of(&store).to_json().expect("encodes");
        let restored = AccountSnapshot::from_json(&saved)
            .expect("decodes")
            .into_store();
        let as_json = |s: &Store| serde_json::to_value(s).expect("a store is JSON");
        assert_eq!(as_json(&restored), as_json(&store));
        assert_eq!(
            restored.contact_id_by_sms("17815550100"),
            Some(&contact),
            "the SMS index is kept"
        );
        assert!(restored.activities[index].completed_seen);
    }

    #[test]
    fn other_formats_and_other_json_are_refused() {
        let other = AccountSnapshot::from_json(br#"{"format": 99, "store": {}}"#);
        assert!(matches!(
            other,
            Err(SnapshotError::OtherFormat { found: 99 })
        ));
        let garbage = AccountSnapshot::from_json(b"[1, 2]");
        assert!(matches!(garbage, Err(SnapshotError::Malformed(_))));
    }
}
