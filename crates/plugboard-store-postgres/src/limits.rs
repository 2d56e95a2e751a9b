//! [`LimitStore`] for [`PostgresStore`]: the `rate_spacing`, `rate_slots` and `rate_counters`
//! tables, with `rate_budgets` as each budget's lock.
//!
//! One transaction per admission: it locks the anchor row of every charged budget (inserted if
//! new, then `SELECT … FOR UPDATE`, in key order so two admissions never wait for each other in
//! a circle), reads the decision clock, loads the budgets, asks the runner's [`limiter::decide`]
//! and writes its answer. So processes on any machine queue for a budget and never see the same
//! free slot, and the rules are the ones SQLite follows.

use plugboard_runner::StoreError;
use plugboard_runner::store::limiter::{
    self, Budget, LimiterWrites, Stored, StoredCounter, StoredRolling, StoredSlot,
};
use plugboard_runner::store::{
    Admission, LimitCharge, LimitStore, SlotTicket, StoreFuture, local_host_id,
    process_is_provably_dead,
};
use tokio_postgres::Transaction;

use crate::{PgStoreError, PostgresStore};

fn charge_key(charge: &LimitCharge) -> &str {
    match charge {
        LimitCharge::Rolling { key, .. } | LimitCharge::Counter { key, .. } => key,
    }
}

impl PostgresStore {
    /// Locks the budgets `keys` (sorted, deduplicated) for the rest of `tx`.
    async fn lock_budgets(&self, tx: &Transaction<'_>, keys: &[&str]) -> Result<(), PgStoreError> {
        let doing = "locking rate-limit budgets";
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        tx.execute(
            "INSERT INTO rate_budgets (key) SELECT unnest($1::text[]) ORDER BY 1
             ON CONFLICT (key) DO NOTHING",
            &[&keys],
        )
        .await
        .map_err(self.failed(doing))?;
        tx.query(
            "SELECT key FROM rate_budgets WHERE key = ANY($1) ORDER BY key FOR UPDATE",
            &[&keys],
        )
        .await
        .map_err(self.failed(doing))?;
        Ok(())
    }

    /// Loads what the store holds for `charge`'s budget.
    async fn load(
        &self,
        tx: &Transaction<'_>,
        charge: &LimitCharge,
    ) -> Result<Stored, PgStoreError> {
        let doing = "reading rate-limit budgets";
        Ok(match charge {
            LimitCharge::Counter { key, .. } => Stored::Counter(
                tx.query_opt(
                    "SELECT window_start_ms, used FROM rate_counters WHERE key = $1",
                    &[key],
                )
                .await
                .map_err(self.failed(doing))?
                .map(|row| StoredCounter {
                    window_start_ms: row.get(0),
                    used: row.get(1),
                }),
            ),
            LimitCharge::Rolling { key, limit, .. } => {
                let tat_us = tx
                    .query_opt("SELECT tat_us FROM rate_spacing WHERE key = $1", &[key])
                    .await
                    .map_err(self.failed(doing))?
                    .map(|row| row.get(0));
                let latest = tx
                    .query(
                        "SELECT seq, sent_us, done_us, sender_pid, sender_host FROM rate_slots
                         WHERE key = $1 ORDER BY seq DESC LIMIT $2",
                        &[key, &i64::try_from(*limit).unwrap_or(i64::MAX)],
                    )
                    .await
                    .map_err(self.failed(doing))?
                    .iter()
                    .map(|row| StoredSlot {
                        seq: row.get(0),
                        sent_us: row.get(1),
                        done_us: row.get(2),
                        sender_pid: row.get::<_, Option<i32>>(3).map(i64::from),
                        sender_host: row.get(4),
                    })
                    .collect();
                Stored::Rolling(StoredRolling { tat_us, latest })
            }
        })
    }

    /// Writes a decision's writes; the new slots are this process's.
    async fn write(
        &self,
        tx: &Transaction<'_>,
        writes: &LimiterWrites,
    ) -> Result<(), PgStoreError> {
        let doing = "charging rate-limit budgets";
        for end in &writes.ended {
            tx.execute(
                "UPDATE rate_slots SET done_us = $3
                 WHERE key = $1 AND seq = $2 AND done_us IS NULL",
                &[&end.key, &end.seq, &end.done_us],
            )
            .await
            .map_err(self.failed(doing))?;
        }
        for counter in &writes.counters {
            tx.execute(
                "INSERT INTO rate_counters (key, window_start_ms, used) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET window_start_ms = excluded.window_start_ms,
                     used = excluded.used",
                &[&counter.key, &counter.window_start_ms, &counter.used],
            )
            .await
            .map_err(self.failed(doing))?;
        }
        let pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        for slot in &writes.taken {
            tx.execute(
                "INSERT INTO rate_spacing (key, tat_us) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET tat_us = excluded.tat_us",
                &[&slot.key, &slot.tat_us],
            )
            .await
            .map_err(self.failed(doing))?;
            tx.execute(
                "INSERT INTO rate_slots (key, seq, sent_us, done_us, sender_pid, sender_host)
                 VALUES ($1, $2, $3, NULL, $4, $5)",
                &[&slot.key, &slot.seq, &slot.sent_us, &pid, &local_host_id()],
            )
            .await
            .map_err(self.failed(doing))?;
            tx.execute(
                "DELETE FROM rate_slots WHERE key = $1 AND seq <= $2",
                &[&slot.key, &slot.forget_through_seq],
            )
            .await
            .map_err(self.failed(doing))?;
        }
        Ok(())
    }

    async fn admit(&self, charges: &[LimitCharge], now_ms: i64) -> Result<Admission, StoreError> {
        if charges.is_empty() {
            return Ok(Admission::Granted {
                tickets: Vec::new(),
            });
        }
        let doing = "charging rate-limit budgets";
        let mut keys: Vec<&str> = charges.iter().map(charge_key).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(self.failed(doing))?;
        self.lock_budgets(&tx, &keys).await?;
        let time = self.clock.now(&tx, now_ms, self.database()).await?;
        let mut budgets = Vec::with_capacity(charges.len());
        for charge in charges {
            budgets.push(Budget {
                charge,
                stored: self.load(&tx, charge).await?,
            });
        }
        let decision = limiter::decide(&budgets, time.now_ms, process_is_provably_dead);
        // Nothing to write (a wait, a used-up quota): the transaction is rolled back.
        if !decision.writes.is_empty() {
            self.write(&tx, &decision.writes).await?;
            tx.commit().await.map_err(self.failed(doing))?;
        }
        // A wait is relative and a quota's reset is the charge's own (the caller's calendar):
        // neither needs moving into the caller's frame.
        Ok(decision.admission)
    }
}

impl LimitStore for PostgresStore {
    fn acquire<'a>(
        &'a self,
        charges: &'a [LimitCharge],
        now_ms: i64,
    ) -> StoreFuture<'a, Admission> {
        Box::pin(self.admit(charges, now_ms))
    }

    fn complete<'a>(&'a self, tickets: &'a [SlotTicket], done_ms: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if tickets.is_empty() {
                return Ok(());
            }
            let doing = "recording a request's completion";
            // Over now by the decision clock: the server's, unless a test moves time by hand.
            let done_us = self
                .clock
                .caller_time(done_ms)
                .map(|ms| ms.saturating_mul(1000));
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(self.failed(doing))?;
            for ticket in tickets {
                tx.execute(
                    "UPDATE rate_slots
                     SET done_us = GREATEST(COALESCE(done_us, 0), COALESCE($3, plugboard_now_us()))
                     WHERE key = $1 AND seq = $2",
                    &[&ticket.key, &ticket.seq, &done_us],
                )
                .await
                .map_err(self.failed(doing))?;
            }
            tx.commit().await.map_err(self.failed(doing))?;
            Ok(())
        })
    }

    fn exhaust<'a>(
        &'a self,
        key: &'a str,
        window_start_ms: i64,
        limit: u64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            client
                .execute(
                    "INSERT INTO rate_counters (key, window_start_ms, used) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE SET window_start_ms = excluded.window_start_ms,
                         used = excluded.used",
                    &[
                        &key,
                        &window_start_ms,
                        &i64::try_from(limit).unwrap_or(i64::MAX),
                    ],
                )
                .await
                .map_err(self.failed("marking a quota as used up"))?;
            Ok(())
        })
    }
}
