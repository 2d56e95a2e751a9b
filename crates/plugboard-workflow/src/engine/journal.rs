//! The run journal: the results of completed calls, and the intents of calls sent but not yet
//! answered, kept so a resumed run repeats nothing that took effect.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

/// Why the journal could not store a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("run journal: {message}")]
pub struct JournalError {
    /// What failed.
    pub message: String,
}

impl JournalError {
    /// A journal error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Where results of completed steps are kept, so a resumed run repeats none of them.
///
/// Keys are step ids, and `<id>[<n>]` for the n-th call (0-based) of a `for_each` over an array.
pub trait Journal: Sync {
    /// The output of a step (or item) that completed in an earlier attempt of this run.
    fn completed(&self, key: &str) -> Option<Value>;
    /// Stores the output of a step (or item) that just completed.
    fn record(&self, key: &str, output: &Value) -> Result<(), JournalError>;
    /// Records that a call which must take effect at most once is about to be sent: until its
    /// output is recorded or the intent cleared, its outcome is unknown (see `once.rs`).
    fn record_intent(&self, key: &str) -> Result<(), JournalError>;
    /// Whether an earlier attempt sent the call `key` and never learned its outcome.
    fn intent_pending(&self, key: &str) -> bool;
    /// Forgets an intent: the call was answered without effect, or never sent.
    fn clear_intent(&self, key: &str) -> Result<(), JournalError>;

    /// Takes the call `key` (one that must take effect at most once) for this attempt, right
    /// before it is sent, and records its intent. The default suits a run that one process
    /// executes at a time: the call is this attempt's, its outcome unknown when an earlier
    /// attempt left its intent pending. A journal shared by attempts that may overlap (a run's
    /// pieces on Temporal) answers [`CallClaim::Held`] while another live attempt sends it.
    ///
    /// Either way, a call this attempt claimed before and has neither recorded nor cleared (a
    /// step retry after a lost answer whose effect could not be looked up) is `unknown`: the
    /// claim being this attempt's own does not make the call unsent.
    fn claim_call(&self, key: &str) -> Result<CallClaim, JournalError> {
        claim_in_one_process(self, key)
    }

    /// How often a claimed call in flight must be held again ([`Journal::hold_call`]), for a
    /// journal whose claims lapse; `None` (the default) for claims that do not.
    fn claim_renewal(&self) -> Option<Duration> {
        None
    }

    /// Keeps this attempt's claim on call `key` while it is in flight.
    fn hold_call(&self, _key: &str) -> Result<(), JournalError> {
        Ok(())
    }
}

/// [`Journal::claim_call`] for a run one process executes at a time: the call is this
/// attempt's, its outcome unknown when an earlier attempt left its intent pending.
pub fn claim_in_one_process<J: Journal + ?Sized>(
    journal: &J,
    key: &str,
) -> Result<CallClaim, JournalError> {
    if let Some(output) = journal.completed(key) {
        return Ok(CallClaim::Done(output));
    }
    let unknown = journal.intent_pending(key);
    journal.record_intent(key)?;
    Ok(CallClaim::Taken { unknown })
}

/// Whose a call that must take effect at most once is, as [`Journal::claim_call`] answers.
#[derive(Debug, Clone, PartialEq)]
pub enum CallClaim {
    /// Its output is journaled (another attempt completed it): that is the call's output.
    Done(Value),
    /// This attempt sends it. `unknown`: an earlier attempt sent it and never learned whether
    /// it took effect, so it must be settled first (see `once.rs`).
    Taken {
        /// The earlier attempt's outcome is unknown.
        unknown: bool,
    },
    /// Another attempt is sending it now: wait for its answer, then claim again.
    Held,
}

/// A journal in memory: for tests, and for runs that need no resume.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    entries: Mutex<HashMap<String, Value>>,
    intents: Mutex<HashSet<String>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys recorded so far, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .entries
            .lock()
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// Forgets one key, e.g. to simulate a crash before it was written.
    pub fn remove(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

impl Journal for MemoryJournal {
    fn completed(&self, key: &str) -> Option<Value> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    fn record(&self, key: &str, output: &Value) -> Result<(), JournalError> {
        self.entries
            .lock()
            .map_err(|_| JournalError::new("the in-memory journal was poisoned by a panic"))?
            .insert(key.to_owned(), output.clone());
        self.clear_intent(key)
    }

    fn record_intent(&self, key: &str) -> Result<(), JournalError> {
        self.intents
            .lock()
            .map_err(|_| JournalError::new("the in-memory journal was poisoned by a panic"))?
            .insert(key.to_owned());
        Ok(())
    }

    fn intent_pending(&self, key: &str) -> bool {
        self.intents
            .lock()
            .is_ok_and(|intents| intents.contains(key))
    }

    fn clear_intent(&self, key: &str) -> Result<(), JournalError> {
        self.intents
            .lock()
            .map_err(|_| JournalError::new("the in-memory journal was poisoned by a panic"))?
            .remove(key);
        Ok(())
    }
}
