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
