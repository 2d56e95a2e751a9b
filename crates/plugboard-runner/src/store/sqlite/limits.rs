//! [`LimitStore`] for [`SqliteStore`]: the `rate_spacing`, `rate_slots` and `rate_counters`
//! tables. One `BEGIN IMMEDIATE` transaction loads the charged budgets, asks
//! [`limiter::decide`] and writes its answer, so two processes never see the same free slot.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::{SqliteStore, run};
use crate::store::limiter::{
    self, Budget, LimiterWrites, Stored, StoredCounter, StoredRolling, StoredSlot,
};
use crate::store::{
    Admission, LimitCharge, LimitStore, SlotTicket, StoreFuture, local_host_id,
    process_is_provably_dead,
};

/// Loads what the store holds for `charge`'s budget.
fn load(tx: &Transaction<'_>, charge: &LimitCharge) -> rusqlite::Result<Stored> {
    Ok(match charge {
        LimitCharge::Counter { key, .. } => Stored::Counter(
            tx.prepare_cached("SELECT window_start, used FROM rate_counters WHERE key = ?1")?
                .query_row(params![key], |row| {
                    Ok(StoredCounter {
                        window_start_ms: row.get(0)?,
                        used: row.get(1)?,
                    })
                })
                .optional()?,
        ),
        LimitCharge::Rolling { key, limit, .. } => {
            let tat_us = tx
                .prepare_cached("SELECT tat_us FROM rate_spacing WHERE key = ?1")?
                .query_row(params![key], |row| row.get(0))
                .optional()?;
            let latest = tx
                .prepare_cached(
                    "SELECT seq, sent_us, done_us, sender_pid, sender_host FROM rate_slots
                     WHERE key = ?1 ORDER BY seq DESC LIMIT ?2",
                )?
                .query_map(
                    params![key, i64::try_from(*limit).unwrap_or(i64::MAX)],
                    |row| {
                        Ok(StoredSlot {
                            seq: row.get(0)?,
                            sent_us: row.get(1)?,
                            done_us: row.get(2)?,
                            sender_pid: row.get(3)?,
                            sender_host: row.get(4)?,
                        })
                    },
                )?
                .collect::<Result<_, _>>()?;
            Stored::Rolling(StoredRolling { tat_us, latest })
        }
    })
}

/// Writes a decision's writes; the new slots are this process's.
fn write(tx: &Transaction<'_>, writes: &LimiterWrites) -> rusqlite::Result<()> {
    for end in &writes.ended {
        tx.prepare_cached(
            "UPDATE rate_slots SET done_us = ?3 WHERE key = ?1 AND seq = ?2 AND done_us IS NULL",
        )?
        .execute(params![end.key, end.seq, end.done_us])?;
    }
    for counter in &writes.counters {
        tx.prepare_cached(
            "INSERT INTO rate_counters (key, window_start, used) VALUES (?1, ?2, ?3)
             ON CONFLICT(key) DO UPDATE SET window_start = excluded.window_start,
                 used = excluded.used",
        )?
        .execute(params![counter.key, counter.window_start_ms, counter.used])?;
    }
    for slot in &writes.taken {
        tx.prepare_cached(
            "INSERT INTO rate_spacing (key, tat_us) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET tat_us = excluded.tat_us",
        )?
        .execute(params![slot.key, slot.tat_us])?;
        tx.prepare_cached(
            "INSERT INTO rate_slots (key, seq, sent_us, done_us, sender_pid, sender_host)
             VALUES (?1, ?2, ?3, NULL, ?4, ?5)",
        )?
        .execute(params![
            slot.key,
            slot.seq,
            slot.sent_us,
            std::process::id(),
            local_host_id()
        ])?;
        tx.prepare_cached("DELETE FROM rate_slots WHERE key = ?1 AND seq <= ?2")?
            .execute(params![slot.key, slot.forget_through_seq])?;
    }
    Ok(())
}

impl LimitStore for SqliteStore {
    fn acquire<'a>(
        &'a self,
        charges: &'a [LimitCharge],
        now_ms: i64,
    ) -> StoreFuture<'a, Admission> {
        run(move || {
            if charges.is_empty() {
                return Ok(Admission::Granted {
                    tickets: Vec::new(),
                });
            }
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let budgets = charges
                .iter()
                .map(|charge| {
                    Ok(Budget {
                        charge,
                        stored: load(&tx, charge)?,
                    })
                })
                .collect::<Result<Vec<_>, rusqlite::Error>>()?;
            let decision = limiter::decide(&budgets, now_ms, process_is_provably_dead);
            // Nothing to write (a wait, a used-up quota): the transaction is rolled back.
            if !decision.writes.is_empty() {
                write(&tx, &decision.writes)?;
                tx.commit()?;
            }
            Ok(decision.admission)
        })
    }

    fn complete<'a>(&'a self, tickets: &'a [SlotTicket], done_ms: i64) -> StoreFuture<'a, ()> {
        run(move || {
            if tickets.is_empty() {
                return Ok(());
            }
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for ticket in tickets {
                tx.execute(
                    "UPDATE rate_slots SET done_us = MAX(COALESCE(done_us, 0), ?3)
                     WHERE key = ?1 AND seq = ?2",
                    params![ticket.key, ticket.seq, done_ms.saturating_mul(1000)],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn exhaust<'a>(
        &'a self,
        key: &'a str,
        window_start_ms: i64,
        limit: u64,
    ) -> StoreFuture<'a, ()> {
        run(move || {
            self.lock().execute(
                "INSERT INTO rate_counters (key, window_start, used) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET window_start = excluded.window_start,
                     used = excluded.used",
                params![
                    key,
                    window_start_ms,
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
            )?;
            Ok(())
        })
    }
}
