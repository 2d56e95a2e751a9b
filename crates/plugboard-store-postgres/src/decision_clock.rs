//! Which clock the lease and limiter decisions read, and how their answers reach the caller.
//!
//! The role traits hand every decision the caller's `now_ms` (SQLite decides by it: one machine,
//! one clock). Processes sharing this store run on machines whose clocks differ, so here the
//! decisions read the **server's** clock inside their transaction, after the row locks are held,
//! and the caller's `now_ms` is used for one thing only: translating the absolute times an answer
//! carries (a lease's `until_ms`) into the caller's frame, `server time + (caller now - server
//! now)`. The executor then subtracts its own `now_ms` and gets the true remaining time, whatever
//! the skew. Waits are relative already ([`Admission::Wait`](plugboard_runner::store::Admission)).
//! `complete(done_ms)` likewise records the server's clock, not `done_ms`; `renew_refresh_lease`
//! extends from the server's clock. Calendar quota windows are the one time the caller picks (its
//! UTC day, in the charge): skew only moves the moment a daily counter resets by that skew.
//!
//! [`DecisionClock::Caller`] exists for the shared conformance suite, which moves time by hand:
//! there the caller's `now_ms` *is* the clock, exactly as SQLite treats it. Nothing but a test
//! should choose it (see [`PostgresStore::deciding_by_caller_clock_for_tests`](crate::PostgresStore::deciding_by_caller_clock_for_tests)).

use crate::PgStoreError;

/// The clock a [`PostgresStore`](crate::PostgresStore) decides leases and rate limits by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecisionClock {
    /// The database server's `clock_timestamp()`: every process on every machine reads one clock.
    #[default]
    Server,
    /// The `now_ms` each call passes (tests that move time by hand).
    Caller,
}

/// The moment a decision is taken, in the store's frame, and how to move the store's absolute
/// times into the caller's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecisionTime {
    /// Now, in ms since the epoch, by the decision clock.
    pub now_ms: i64,
    /// Added to a stored absolute time (ms) to express it on the caller's clock.
    pub to_caller_ms: i64,
}

impl DecisionTime {
    /// A stored absolute time (ms) on the caller's clock.
    pub fn for_caller(&self, stored_ms: i64) -> i64 {
        stored_ms.saturating_add(self.to_caller_ms)
    }
}

impl DecisionClock {
    /// Reads the decision clock inside `tx` (call it after the rows are locked: a lock wait must
    /// not age the decision's "now").
    pub(crate) async fn now(
        self,
        tx: &tokio_postgres::Transaction<'_>,
        caller_now_ms: i64,
        database: &str,
    ) -> Result<DecisionTime, PgStoreError> {
        match self {
            Self::Caller => Ok(DecisionTime {
                now_ms: caller_now_ms,
                to_caller_ms: 0,
            }),
            Self::Server => {
                let row = tx
                    .query_one("SELECT plugboard_now_ms()", &[])
                    .await
                    .map_err(|source| PgStoreError::Database {
                        database: database.to_owned(),
                        doing: "reading the server's clock",
                        source,
                    })?;
                let server_ms: i64 = row.get(0);
                Ok(DecisionTime {
                    now_ms: server_ms,
                    to_caller_ms: caller_now_ms.saturating_sub(server_ms),
                })
            }
        }
    }

    /// The caller's time to record in SQL as "now" (`None`: the server's, `plugboard_now_*()`).
    pub(crate) fn caller_time(self, caller_ms: i64) -> Option<i64> {
        match self {
            Self::Caller => Some(caller_ms),
            Self::Server => None,
        }
    }
}
