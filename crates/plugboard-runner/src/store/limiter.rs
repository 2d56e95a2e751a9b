//! The rate limiter's decision, as a pure function of the charged budgets' stored state and the
//! time.
//!
//! A backend loads, inside one transaction that excludes other writers of these budgets
//! (SQLite: `BEGIN IMMEDIATE`; a server database: row locks), the state of every budget a
//! request charges, asks [`decide`], writes [`LimiterWrites`] and commits. So the rules (GCRA
//! spacing, the window guard on response times, slots left in flight by dead senders, calendar
//! counters) exist once, and processes sharing a budget through any backend agree on them.
//!
//! The rules, for [`LimitCharge::Rolling`] (at most `limit` requests in any `window_us`):
//! - GCRA spacing with no burst: a request goes out no earlier than the stored theoretical
//!   arrival time (capped at one interval from now, so a clock that went back cannot stall the
//!   budget for longer than that), which then moves to `now + interval_us`.
//! - The window guard: a request goes out no earlier than `window_us` after the `limit`-th
//!   previous request was over (its response arrived), the latest moment the server can have
//!   counted it. A request still in flight counts as over "now" (so nothing goes until it ends);
//!   after `inflight_cap_us` it counts from when it was sent (its sender died unseen); and when
//!   its sender is provably dead it is over at once, which is written down.
//!
//! For [`LimitCharge::Counter`] (a calendar window): a stored count for another window is a
//! count of zero; a count at the limit is exhausted until the window ends.
//!
//! Either every budget is charged or none is.

use super::{Admission, LimitCharge, SlotTicket};

/// A calendar counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredCounter {
    /// The start of the window it counts, ms since the epoch.
    pub window_start_ms: i64,
    /// Requests counted in that window.
    pub used: i64,
}

/// One request slot of a rolling budget, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSlot {
    /// Its sequence number in the budget (grows by one per request).
    pub seq: i64,
    /// When it was sent, µs since the epoch.
    pub sent_us: i64,
    /// When it was over (answered or abandoned), µs since the epoch; `None` while in flight.
    pub done_us: Option<i64>,
    /// The sending process's id, when recorded (schema version 2 on).
    pub sender_pid: Option<i64>,
    /// The sending process's machine (a [`local_host_id`](super::local_host_id)), when recorded.
    pub sender_host: Option<String>,
}

impl StoredSlot {
    fn sender_is_dead(&self, is_dead: &impl Fn(u32, &str) -> bool) -> bool {
        match (self.sender_pid, &self.sender_host) {
            (Some(pid), Some(host)) => u32::try_from(pid).is_ok_and(|pid| is_dead(pid, host)),
            _ => false,
        }
    }
}

/// A rolling budget as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredRolling {
    /// The theoretical arrival time of the next request (GCRA), µs since the epoch.
    pub tat_us: Option<i64>,
    /// Its latest slots, newest first: at least the latest `limit` when it has that many (more
    /// are ignored).
    pub latest: Vec<StoredSlot>,
}

/// What the store holds for one charged budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A counter's row, if any.
    Counter(Option<StoredCounter>),
    /// A rolling budget's rows.
    Rolling(StoredRolling),
}

/// One charge with what the store holds for its key, loaded inside the transaction.
#[derive(Debug, Clone)]
pub struct Budget<'a> {
    /// The charge.
    pub charge: &'a LimitCharge,
    /// Its stored state. A state of the other kind than the charge counts as empty.
    pub stored: Stored,
}

/// A slot to mark over at `done_us` (only if it is still in flight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotEnd {
    /// The budget's key.
    pub key: String,
    /// The slot.
    pub seq: i64,
    /// When it is over, µs since the epoch.
    pub done_us: i64,
}

/// A counter value to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterWrite {
    /// The budget's key.
    pub key: String,
    /// The window it counts, ms since the epoch.
    pub window_start_ms: i64,
    /// The new count.
    pub used: i64,
}

/// A slot taken in a rolling budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenSlot {
    /// The budget's key.
    pub key: String,
    /// The new slot's sequence number.
    pub seq: i64,
    /// When it is sent (now), µs since the epoch; the sender is the calling process.
    pub sent_us: i64,
    /// The budget's new theoretical arrival time, µs since the epoch.
    pub tat_us: i64,
    /// Slots up to this sequence number are no longer needed and may be deleted.
    pub forget_through_seq: i64,
}

/// What to write once decided. `ended` is written whatever the answer (a dead sender's slot is
/// over either way); `counters` and `taken` are non-empty only when the request is admitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimiterWrites {
    /// In-flight slots of provably dead senders, over now.
    pub ended: Vec<SlotEnd>,
    /// Counters charged.
    pub counters: Vec<CounterWrite>,
    /// Rolling slots taken, in the order of the charges.
    pub taken: Vec<TakenSlot>,
}

impl LimiterWrites {
    /// Whether there is nothing to write (a transaction may then be rolled back).
    pub fn is_empty(&self) -> bool {
        self.ended.is_empty() && self.counters.is_empty() && self.taken.is_empty()
    }
}

/// The limiter's answer and what to write for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimiterDecision {
    /// The answer for the request.
    pub admission: Admission,
    /// What the store must write, in the same transaction.
    pub writes: LimiterWrites,
}

/// Decides whether a request may be sent at `now_ms` given the stored state of every budget it
/// charges (see the module docs). `is_dead(pid, host)` says whether a slot's sender is provably
/// dead; it is asked only about the slot that holds a request back.
pub fn decide(
    budgets: &[Budget<'_>],
    now_ms: i64,
    is_dead: impl Fn(u32, &str) -> bool,
) -> LimiterDecision {
    let now_us = now_ms.saturating_mul(1000);
    let mut allowed_at_us = now_us;
    let mut exhausted: Option<i64> = None;
    let mut writes = LimiterWrites::default();
    let mut counters = Vec::new();
    let mut taken = Vec::new();
    for budget in budgets {
        match budget.charge {
            LimitCharge::Counter {
                key,
                window_start_ms,
                window_end_ms,
                limit,
            } => {
                let used = match &budget.stored {
                    Stored::Counter(Some(row)) if row.window_start_ms == *window_start_ms => {
                        row.used
                    }
                    _ => 0,
                };
                if used >= i64::try_from(*limit).unwrap_or(i64::MAX) {
                    exhausted = Some(exhausted.map_or(*window_end_ms, |e| e.max(*window_end_ms)));
                }
                counters.push(CounterWrite {
                    key: key.clone(),
                    window_start_ms: *window_start_ms,
                    used: used.saturating_add(1),
                });
            }
            LimitCharge::Rolling {
                key,
                limit,
                window_us,
                interval_us,
                inflight_cap_us,
            } => {
                let empty = StoredRolling::default();
                let stored = match &budget.stored {
                    Stored::Rolling(stored) => stored,
                    Stored::Counter(_) => &empty,
                };
                // Slots are taken at send time, so the stored times are never more than one
                // interval (or window) ahead of now unless the clock went back; the caps keep
                // such a jump from stalling the budget for longer than that.
                if let Some(tat) = stored.tat_us {
                    allowed_at_us = allowed_at_us.max(tat.min(now_us.saturating_add(*interval_us)));
                }
                let limit_count = usize::try_from(*limit).unwrap_or(usize::MAX);
                let oldest_counted = limit_count
                    .checked_sub(1)
                    .and_then(|index| stored.latest.get(index));
                if let Some(slot) = oldest_counted {
                    let over = match slot.done_us {
                        Some(done) => done,
                        // In flight, but its sender is gone (killed mid-request): nothing more
                        // can leave it, so it is over now. Written down, so the window runs
                        // from this moment instead of moving with every retry.
                        None if slot.sender_is_dead(&is_dead) => {
                            writes.ended.push(SlotEnd {
                                key: key.clone(),
                                seq: slot.seq,
                                done_us: now_us,
                            });
                            now_us
                        }
                        // Still in flight: it may reach the server at any moment. Its sender
                        // died unseen if it is older than the cap.
                        None if now_us.saturating_sub(slot.sent_us) < *inflight_cap_us => now_us,
                        None => slot.sent_us,
                    };
                    allowed_at_us = allowed_at_us.max(over.min(now_us).saturating_add(*window_us));
                }
                let seq = stored.latest.first().map_or(1, |slot| slot.seq + 1);
                taken.push(TakenSlot {
                    key: key.clone(),
                    seq,
                    sent_us: now_us,
                    tat_us: now_us.saturating_add(*interval_us),
                    forget_through_seq: seq - i64::try_from(*limit).unwrap_or(i64::MAX),
                });
            }
        }
    }
    let admission = if let Some(resets_at_ms) = exhausted {
        Admission::Exhausted { resets_at_ms }
    } else if allowed_at_us > now_us {
        Admission::Wait {
            wait_us: allowed_at_us - now_us,
        }
    } else {
        writes.counters = counters;
        let tickets = taken
            .iter()
            .map(|slot| SlotTicket {
                key: slot.key.clone(),
                seq: slot.seq,
            })
            .collect();
        writes.taken = taken;
        Admission::Granted { tickets }
    };
    LimiterDecision { admission, writes }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use super::*;

    const T0_MS: i64 = 1_000_000_000_000;

    fn four_per_second() -> LimitCharge {
        LimitCharge::Rolling {
            key: "k".to_owned(),
            limit: 4,
            window_us: 1_010_000,
            interval_us: 252_500,
            inflight_cap_us: 61_000_000,
        }
    }

    fn daily(now_ms: i64, limit: u64) -> LimitCharge {
        let start = now_ms.div_euclid(86_400_000) * 86_400_000;
        LimitCharge::Counter {
            key: "day".to_owned(),
            window_start_ms: start,
            window_end_ms: start + 86_400_000,
            limit,
        }
    }

    fn slot(seq: i64, sent_ms: i64, done_ms: Option<i64>) -> StoredSlot {
        StoredSlot {
            seq,
            sent_us: sent_ms * 1000,
            done_us: done_ms.map(|d| d * 1000),
            sender_pid: Some(77),
            sender_host: Some("this-machine".to_owned()),
        }
    }

    fn alive(_: u32, _: &str) -> bool {
        false
    }

    /// An in-memory store that applies the decisions' writes: what every backend does with
    /// them, so the properties below test the rules as a backend runs them.
    #[derive(Default)]
    struct Model {
        counters: HashMap<String, StoredCounter>,
        tat: HashMap<String, i64>,
        slots: HashMap<String, Vec<StoredSlot>>,
    }

    impl Model {
        fn load<'c>(&self, charges: &'c [LimitCharge]) -> Vec<Budget<'c>> {
            charges
                .iter()
                .map(|charge| {
                    let stored = match charge {
                        LimitCharge::Counter { key, .. } => {
                            Stored::Counter(self.counters.get(key).copied())
                        }
                        LimitCharge::Rolling { key, limit, .. } => {
                            let mut latest = self.slots.get(key).cloned().unwrap_or_default();
                            latest.sort_by_key(|s| std::cmp::Reverse(s.seq));
                            latest.truncate(usize::try_from(*limit).unwrap());
                            Stored::Rolling(StoredRolling {
                                tat_us: self.tat.get(key).copied(),
                                latest,
                            })
                        }
                    };
                    Budget { charge, stored }
                })
                .collect()
        }

        fn acquire(&mut self, charges: &[LimitCharge], now_ms: i64) -> Admission {
            let decision = decide(&self.load(charges), now_ms, alive);
            self.apply(&decision.writes);
            decision.admission
        }

        fn apply(&mut self, writes: &LimiterWrites) {
            for end in &writes.ended {
                for slot in self.slots.entry(end.key.clone()).or_default() {
                    if slot.seq == end.seq && slot.done_us.is_none() {
                        slot.done_us = Some(end.done_us);
                    }
                }
            }
            for counter in &writes.counters {
                self.counters.insert(
                    counter.key.clone(),
                    StoredCounter {
                        window_start_ms: counter.window_start_ms,
                        used: counter.used,
                    },
                );
            }
            for taken in &writes.taken {
                self.tat.insert(taken.key.clone(), taken.tat_us);
                let slots = self.slots.entry(taken.key.clone()).or_default();
                slots.push(StoredSlot {
                    seq: taken.seq,
                    sent_us: taken.sent_us,
                    done_us: None,
                    sender_pid: Some(1),
                    sender_host: Some("this-machine".to_owned()),
                });
                slots.retain(|s| s.seq > taken.forget_through_seq);
            }
        }

        fn complete(&mut self, tickets: &[SlotTicket], done_ms: i64) {
            for ticket in tickets {
                for slot in self.slots.entry(ticket.key.clone()).or_default() {
                    if slot.seq == ticket.seq {
                        slot.done_us = Some(slot.done_us.unwrap_or(0).max(done_ms * 1000));
                    }
                }
            }
        }
    }

    #[test]
    fn nothing_to_charge_is_granted_with_no_tickets_and_no_writes() {
        let decision = decide(&[], T0_MS, alive);
        assert_eq!(
            decision.admission,
            Admission::Granted {
                tickets: Vec::new()
            }
        );
        assert!(decision.writes.is_empty());
    }

    #[test]
    fn an_empty_rolling_budget_grants_the_first_slot() {
        let charge = four_per_second();
        let decision = decide(
            &[Budget {
                charge: &charge,
                stored: Stored::Rolling(StoredRolling::default()),
            }],
            T0_MS,
            alive,
        );
        assert_eq!(
            decision.admission,
            Admission::Granted {
                tickets: vec![SlotTicket {
                    key: "k".to_owned(),
                    seq: 1
                }]
            }
        );
        assert_eq!(
            decision.writes.taken,
            vec![TakenSlot {
                key: "k".to_owned(),
                seq: 1,
                sent_us: T0_MS * 1000,
                tat_us: T0_MS * 1000 + 252_500,
                forget_through_seq: -3,
            }]
        );
    }

    #[test]
    fn gcra_spaces_requests_by_the_interval() {
        let charge = four_per_second();
        let stored = StoredRolling {
            tat_us: Some(T0_MS * 1000 + 200_000),
            latest: vec![slot(9, T0_MS - 50, Some(T0_MS - 40))],
        };
        let decision = decide(
            &[Budget {
                charge: &charge,
                stored: Stored::Rolling(stored),
            }],
            T0_MS,
            alive,
        );
        assert_eq!(decision.admission, Admission::Wait { wait_us: 200_000 });
        assert!(decision.writes.is_empty(), "a wait charges nothing");
    }

    #[test]
    fn a_tat_far_ahead_after_a_clock_jump_waits_one_interval_at_most() {
        let charge = four_per_second();
        let stored = StoredRolling {
            tat_us: Some(T0_MS * 1000 + 3_600_000_000),
            latest: Vec::new(),
        };
        let decision = decide(
            &[Budget {
                charge: &charge,
                stored: Stored::Rolling(stored),
            }],
            T0_MS,
            alive,
        );
        assert_eq!(decision.admission, Admission::Wait { wait_us: 252_500 });
    }

    #[test]
    fn the_window_runs_from_when_the_limit_th_previous_request_was_over() {
        let charge = four_per_second();
        // Four slots; the oldest of them was answered 400 ms after it was sent.
        let latest = vec![
            slot(4, T0_MS - 100, Some(T0_MS - 90)),
            slot(3, T0_MS - 300, Some(T0_MS - 290)),
            slot(2, T0_MS - 600, Some(T0_MS - 590)),
            slot(1, T0_MS - 900, Some(T0_MS - 500)),
        ];
        let decide_at = |now: i64| {
            decide(
                &[Budget {
                    charge: &charge,
                    stored: Stored::Rolling(StoredRolling {
                        tat_us: None,
                        latest: latest.clone(),
                    }),
                }],
                now,
                alive,
            )
            .admission
        };
        // Over at T0 - 500 ms: the window (1.01 s) ends at T0 + 510 ms.
        assert_eq!(decide_at(T0_MS), Admission::Wait { wait_us: 510_000 });
        assert!(matches!(
            decide_at(T0_MS + 510),
            Admission::Granted { tickets } if tickets[0].seq == 5
        ));
    }

    #[test]
    fn an_in_flight_request_holds_the_budget_until_the_cap_unless_its_sender_died() {
        let charge = LimitCharge::Rolling {
            key: "token".to_owned(),
            limit: 1,
            window_us: 1_000_000,
            interval_us: 1_000_000,
            inflight_cap_us: 61_000_000,
        };
        let in_flight = StoredRolling {
            tat_us: None,
            latest: vec![slot(1, T0_MS, None)],
        };
        let budget = || Budget {
            charge: &charge,
            stored: Stored::Rolling(in_flight.clone()),
        };
        // Alive and in flight: one window from now, whenever asked.
        let live = decide(&[budget()], T0_MS + 30_000, alive);
        assert_eq!(live.admission, Admission::Wait { wait_us: 1_000_000 });
        assert!(live.writes.is_empty());
        // Past the cap: counted from when it was sent.
        assert!(matches!(
            decide(&[budget()], T0_MS + 61_000, alive).admission,
            Admission::Granted { .. }
        ));
        // Its sender is provably dead: over now (written down), one window to go.
        let asked = std::cell::Cell::new(None);
        let dead = decide(&[budget()], T0_MS + 30_000, |pid, host: &str| {
            asked.set(Some((pid, host.to_owned())));
            true
        });
        assert_eq!(asked.take(), Some((77, "this-machine".to_owned())));
        assert_eq!(dead.admission, Admission::Wait { wait_us: 1_000_000 });
        assert_eq!(
            dead.writes.ended,
            vec![SlotEnd {
                key: "token".to_owned(),
                seq: 1,
                done_us: (T0_MS + 30_000) * 1000
            }]
        );
        // A slot without a recorded sender (an older plugboard's) is never judged dead.
        let mut unknown = in_flight.clone();
        unknown.latest[0].sender_pid = None;
        let decision = decide(
            &[Budget {
                charge: &charge,
                stored: Stored::Rolling(unknown),
            }],
            T0_MS + 30_000,
            |_, _: &str| panic!("not asked"),
        );
        assert!(decision.writes.is_empty());
    }

    #[test]
    fn counters_stop_at_the_limit_and_start_again_in_a_new_window() {
        let now = T0_MS;
        let charge = daily(now, 2);
        let LimitCharge::Counter {
            window_start_ms,
            window_end_ms,
            ..
        } = charge
        else {
            unreachable!()
        };
        let with = |row: Option<StoredCounter>| {
            decide(
                &[Budget {
                    charge: &charge,
                    stored: Stored::Counter(row),
                }],
                now,
                alive,
            )
        };
        let first = with(None);
        assert!(
            matches!(first.admission, Admission::Granted { ref tickets } if tickets.is_empty())
        );
        assert_eq!(
            first.writes.counters,
            vec![CounterWrite {
                key: "day".to_owned(),
                window_start_ms,
                used: 1
            }]
        );
        let full = with(Some(StoredCounter {
            window_start_ms,
            used: 2,
        }));
        assert_eq!(
            full.admission,
            Admission::Exhausted {
                resets_at_ms: window_end_ms
            }
        );
        assert!(full.writes.is_empty());
        // Yesterday's full count is today's zero.
        let yesterday = with(Some(StoredCounter {
            window_start_ms: window_start_ms - 86_400_000,
            used: 2,
        }));
        assert_eq!(yesterday.writes.counters[0].used, 1);
    }

    #[test]
    fn an_exhausted_counter_charges_no_other_budget() {
        let rolling = four_per_second();
        let counter = daily(T0_MS, 0);
        let decision = decide(
            &[
                Budget {
                    charge: &rolling,
                    stored: Stored::Rolling(StoredRolling::default()),
                },
                Budget {
                    charge: &counter,
                    stored: Stored::Counter(None),
                },
            ],
            T0_MS,
            alive,
        );
        assert!(matches!(decision.admission, Admission::Exhausted { .. }));
        assert!(decision.writes.taken.is_empty() && decision.writes.counters.is_empty());
    }

    #[test]
    fn a_state_of_the_wrong_kind_counts_as_empty() {
        let rolling = four_per_second();
        let counter = daily(T0_MS, 1);
        let decision = decide(
            &[
                Budget {
                    charge: &rolling,
                    stored: Stored::Counter(None),
                },
                Budget {
                    charge: &counter,
                    stored: Stored::Rolling(StoredRolling::default()),
                },
            ],
            T0_MS,
            alive,
        );
        assert!(
            matches!(decision.admission, Admission::Granted { ref tickets } if tickets.len() == 1)
        );
    }

    /// One simulated run: requests at random moments from several senders, answered after a
    /// random latency, through the decision and the model; returns (sent, done) per request.
    fn simulate(seed: u64, charges: &[LimitCharge], duration_ms: i64) -> Vec<(i64, i64)> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut model = Model::default();
        let mut now = T0_MS;
        let mut pending: Vec<(i64, Vec<SlotTicket>, usize)> = Vec::new();
        let mut requests: Vec<(i64, i64)> = Vec::new();
        while now < T0_MS + duration_ms {
            // Record the completions due by now, in time order.
            pending.sort_by_key(|(done, ..)| *done);
            while pending.first().is_some_and(|(done, ..)| *done <= now) {
                let (done, tickets, index) = pending.remove(0);
                model.complete(&tickets, done);
                requests[index].1 = done;
            }
            match model.acquire(charges, now) {
                Admission::Granted { tickets } => {
                    let latency = rng.i64(0..600);
                    requests.push((now, i64::MAX));
                    pending.push((now + latency, tickets, requests.len() - 1));
                    now += rng.i64(0..50);
                }
                Admission::Wait { wait_us } => {
                    assert!(wait_us > 0);
                    now += (wait_us + 999) / 1000 + rng.i64(0..30);
                }
                Admission::Exhausted { resets_at_ms } => {
                    assert!(resets_at_ms > now);
                    now = resets_at_ms;
                }
            }
        }
        requests
    }

    /// Property: at most `limit` requests are counted in any window, as the server may count
    /// them (from send to answer), and consecutive requests are at least one interval apart.
    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        for seed in 0..200 {
            let charges = [four_per_second()];
            let requests = simulate(seed, &charges, 10_000);
            assert!(
                requests.len() >= 8,
                "seed {seed}: too few: {}",
                requests.len()
            );
            for (i, (sent, _)) in requests.iter().enumerate().skip(4) {
                let (earlier_sent, earlier_done) = requests[i - 4];
                // A request still unanswered would have held this one back.
                assert_ne!(
                    earlier_done,
                    i64::MAX,
                    "seed {seed}: sent over an unanswered one"
                );
                assert!(
                    *sent >= earlier_done + 1_010,
                    "seed {seed}: request {i} at {sent} within a window of request {} \
                     (sent {earlier_sent}, over {earlier_done})",
                    i - 4
                );
            }
            for pair in requests.windows(2) {
                assert!(pair[1].0 - pair[0].0 >= 253, "seed {seed}: {pair:?}");
            }
        }
    }

    /// Property: a daily quota is never exceeded in any calendar day, and each day uses it up.
    #[test]
    fn a_quota_is_never_exceeded_in_a_day() {
        for seed in 0..50 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut model = Model::default();
            let mut now = T0_MS;
            let mut per_day: HashMap<i64, u64> = HashMap::new();
            while now < T0_MS + 3 * 86_400_000 {
                match model.acquire(&[daily(now, 5)], now) {
                    Admission::Granted { .. } => {
                        *per_day.entry(now.div_euclid(86_400_000)).or_default() += 1;
                        now += rng.i64(1..3_600_000);
                    }
                    Admission::Exhausted { resets_at_ms } => {
                        assert_eq!(resets_at_ms % 86_400_000, 0, "resets at 00:00 UTC");
                        now = resets_at_ms;
                    }
                    Admission::Wait { .. } => panic!("a counter never asks to wait"),
                }
            }
            assert!(
                per_day.values().all(|n| *n <= 5),
                "seed {seed}: {per_day:?}"
            );
        }
    }

    /// Property: when every earlier request has been answered, asking again after the wait the
    /// limiter named is granted (the wait is never too short to make progress).
    #[test]
    fn waiting_as_told_is_enough_once_requests_are_answered() {
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..2_000 {
            let mut model = Model::default();
            let charges = [four_per_second()];
            let mut now = T0_MS;
            for _ in 0..rng.usize(0..10) {
                if let Admission::Granted { tickets } = model.acquire(&charges, now) {
                    model.complete(&tickets, now + rng.i64(0..400));
                }
                now += rng.i64(0..600);
            }
            // Every answer is in the past.
            now += 400;
            match model.acquire(&charges, now) {
                Admission::Granted { .. } => {}
                Admission::Wait { wait_us } => {
                    let later = now + (wait_us + 999) / 1000;
                    assert!(
                        matches!(model.acquire(&charges, later), Admission::Granted { .. }),
                        "not granted after waiting {wait_us} µs"
                    );
                }
                Admission::Exhausted { .. } => panic!("no counter here"),
            }
        }
    }
}
