//! The refresh lease's rules, as pure functions of what the store holds and the time.
//!
//! A backend loads the connection's lease row inside its transaction (SQLite: `BEGIN
//! IMMEDIATE`; a server database: `SELECT … FOR UPDATE`), asks [`decide`] (or
//! [`decide_commit`]) what to do, writes the answer and commits. The rules therefore exist once,
//! and every backend judges a lease the same way; each passes its own clock (`now_ms`: the
//! caller's for SQLite, the server's for a shared database) and the liveness check of its
//! machine ([`process_is_provably_dead`](super::process_is_provably_dead)).

use super::{LeaseHolder, LeaseOutcome};

/// A connection's refresh lease as stored, with the token version it guards.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredLease {
    /// The connection's token version.
    pub version: i64,
    /// The holder's id, when someone holds or held the lease.
    pub holder: Option<String>,
    /// When the lease lapses (ms since the epoch), when someone holds it.
    pub until_ms: Option<i64>,
    /// The holder's process id, as recorded.
    pub pid: Option<i64>,
    /// The holder's machine (a [`local_host_id`](super::local_host_id)), as recorded.
    pub host: Option<String>,
    /// The holder id `pid` and `host` were recorded for. A plugboard that did not record its
    /// process (older than schema version 2) sets `holder` alone, and must not inherit the
    /// process of an earlier, dead holder.
    pub process_of: Option<String>,
}

impl StoredLease {
    /// The recorded process of the current holder, when it was recorded for that very holder.
    fn holder_process(&self, id: &str) -> Option<LeaseHolder> {
        match (self.pid, &self.host) {
            (Some(pid), Some(host)) if self.process_of.as_deref() == Some(id) => {
                u32::try_from(pid).ok().map(|pid| LeaseHolder {
                    id: id.to_owned(),
                    pid,
                    host: host.clone(),
                })
            }
            _ => None,
        }
    }
}

/// Whose lease (if anyone's) a taken lease replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Previous {
    /// Nobody held it (never taken, released, or committed).
    Free,
    /// The requester itself held it: taking it again renews it.
    Own,
    /// Another holder's lease had lapsed (`until_ms <= now_ms`): time is the fallback for a
    /// holder that cannot be judged.
    Lapsed {
        /// The lapsed holder's id.
        holder: String,
    },
    /// Another holder's lease was still running, but its process is provably dead on this
    /// machine: taken over at once instead of after the lapse.
    Dead(LeaseHolder),
}

/// What a lease request must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseDecision {
    /// The connection has no tokens (no row): nothing to refresh, nothing to write.
    NoTokens,
    /// A live (or unjudgeable) holder's lease still runs: nothing to write.
    Held {
        /// The current token version.
        version: i64,
        /// Who holds it, when its process was recorded for it.
        holder: Option<LeaseHolder>,
        /// When it lapses, ms since the epoch.
        until_ms: i64,
    },
    /// Write the requester as holder (its id, process and machine, and `process_of` = its id)
    /// with this lapse time.
    Take {
        /// The token version the refresh must start from.
        version: i64,
        /// When the new lease lapses, ms since the epoch.
        until_ms: i64,
        /// Whose lease it replaces.
        previous: Previous,
    },
}

impl LeaseDecision {
    /// The answer the caller gets once the decision is written.
    pub fn outcome(&self) -> LeaseOutcome {
        match self {
            Self::NoTokens => LeaseOutcome::NoTokens,
            Self::Held {
                version,
                holder,
                until_ms,
            } => LeaseOutcome::Held {
                version: *version,
                holder: holder.clone(),
                until_ms: *until_ms,
            },
            Self::Take {
                version,
                until_ms,
                previous,
            } => LeaseOutcome::Acquired {
                version: *version,
                until_ms: *until_ms,
                took_over: match previous {
                    Previous::Dead(holder) => Some(holder.clone()),
                    _ => None,
                },
            },
        }
    }
}

/// Decides a request for the refresh lease by `requester` at `now_ms` for `lease_ms`.
///
/// `stored` is the connection's row (`None`: no tokens). A lease held by someone else is taken
/// when it has lapsed, or when its recorded process is provably dead (`is_dead(pid, host)`,
/// asked only then); otherwise the requester must wait for it.
pub fn decide(
    stored: Option<&StoredLease>,
    requester: &LeaseHolder,
    now_ms: i64,
    lease_ms: i64,
    is_dead: impl Fn(u32, &str) -> bool,
) -> LeaseDecision {
    let Some(stored) = stored else {
        return LeaseDecision::NoTokens;
    };
    let version = stored.version;
    let previous = match (&stored.holder, stored.until_ms) {
        (Some(id), Some(_)) if *id == requester.id => Previous::Own,
        (Some(id), Some(until)) if until <= now_ms => Previous::Lapsed { holder: id.clone() },
        (Some(id), Some(until)) => match stored.holder_process(id) {
            Some(holder) if is_dead(holder.pid, &holder.host) => Previous::Dead(holder),
            holder => {
                return LeaseDecision::Held {
                    version,
                    holder,
                    until_ms: until,
                };
            }
        },
        _ => Previous::Free,
    };
    LeaseDecision::Take {
        version,
        until_ms: now_ms.saturating_add(lease_ms),
        previous,
    }
}

/// What storing refreshed tokens must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitDecision {
    /// Store the tokens under this version (one more than the refresh started from), clearing
    /// the lease and any needs-reauthorisation mark.
    Write {
        /// The new version.
        version: i64,
    },
    /// The version moved while we refreshed (our lease had lapsed and someone else refreshed):
    /// keep theirs, release our lease if we still hold it.
    Conflict,
    /// The connection was deleted meanwhile: write nothing, or its tokens would come back.
    Gone,
}

/// Decides the commit of a refresh that started from `expected_version`, given the stored
/// version (`None`: the connection and its tokens are gone).
///
/// The version is the fence: a refresh that started from the tokens now stored wins, whoever
/// holds the lease. A holder's lease can only lapse under it after it sent its refresh token
/// (it renews the lease right before sending and is refused when it lost it), and then its new
/// tokens are the only valid ones; refusing them would end the connection.
pub fn decide_commit(stored_version: Option<i64>, expected_version: i64) -> CommitDecision {
    match stored_version {
        None => CommitDecision::Gone,
        Some(version) if version != expected_version => CommitDecision::Conflict,
        Some(_) => CommitDecision::Write {
            version: expected_version.saturating_add(1),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const LEASE: i64 = 90_000;

    fn holder(id: &str, pid: u32) -> LeaseHolder {
        LeaseHolder {
            id: id.to_owned(),
            pid,
            host: "this-machine".to_owned(),
        }
    }

    /// A row whose lease `held_by` took, with its process recorded, lapsing at `until`.
    fn held(held_by: &LeaseHolder, until: i64) -> StoredLease {
        StoredLease {
            version: 7,
            holder: Some(held_by.id.clone()),
            until_ms: Some(until),
            pid: Some(i64::from(held_by.pid)),
            host: Some(held_by.host.clone()),
            process_of: Some(held_by.id.clone()),
        }
    }

    fn nobody_dies(_: u32, _: &str) -> bool {
        false
    }

    fn everyone_dies(_: u32, _: &str) -> bool {
        true
    }

    #[test]
    fn no_row_means_no_tokens() {
        let me = holder("me", 1);
        assert_eq!(
            decide(None, &me, 0, LEASE, everyone_dies),
            LeaseDecision::NoTokens
        );
        assert_eq!(
            decide(None, &me, 0, LEASE, everyone_dies).outcome(),
            LeaseOutcome::NoTokens
        );
    }

    #[test]
    fn a_free_lease_is_acquired_until_now_plus_the_lease() {
        let me = holder("me", 1);
        let free = StoredLease {
            version: 3,
            ..StoredLease::default()
        };
        let decision = decide(Some(&free), &me, 1_000, LEASE, everyone_dies);
        assert_eq!(
            decision,
            LeaseDecision::Take {
                version: 3,
                until_ms: 1_000 + LEASE,
                previous: Previous::Free
            }
        );
        assert_eq!(
            decision.outcome(),
            LeaseOutcome::Acquired {
                version: 3,
                until_ms: 1_000 + LEASE,
                took_over: None
            }
        );
        // Saturates instead of overflowing.
        assert!(matches!(
            decide(Some(&free), &me, i64::MAX - 1, LEASE, nobody_dies),
            LeaseDecision::Take {
                until_ms: i64::MAX,
                ..
            }
        ));
    }

    #[test]
    fn a_running_lease_of_a_live_holder_is_held_until_it_lapses() {
        let (them, me) = (holder("them", 10), holder("me", 11));
        let row = held(&them, 5_000);
        let asked = std::cell::Cell::new(0);
        let alive = |pid: u32, host: &str| {
            asked.set(asked.get() + 1);
            assert_eq!((pid, host), (10, "this-machine"));
            false
        };
        assert_eq!(
            decide(Some(&row), &me, 4_999, LEASE, alive),
            LeaseDecision::Held {
                version: 7,
                holder: Some(them.clone()),
                until_ms: 5_000
            }
        );
        assert_eq!(asked.get(), 1, "liveness is asked for a running lease");
        // At the lapse, time is the fallback; nobody's liveness is asked.
        assert_eq!(
            decide(Some(&row), &me, 5_000, LEASE, alive),
            LeaseDecision::Take {
                version: 7,
                until_ms: 5_000 + LEASE,
                previous: Previous::Lapsed {
                    holder: "them".to_owned()
                }
            }
        );
        assert_eq!(asked.get(), 1);
    }

    #[test]
    fn a_provably_dead_holder_is_taken_over_at_once() {
        let (dead, me) = (holder("dead", 10), holder("me", 11));
        let decision = decide(Some(&held(&dead, 90_000)), &me, 1_000, LEASE, everyone_dies);
        assert_eq!(
            decision,
            LeaseDecision::Take {
                version: 7,
                until_ms: 1_000 + LEASE,
                previous: Previous::Dead(dead.clone())
            }
        );
        assert!(matches!(
            decision.outcome(),
            LeaseOutcome::Acquired { took_over: Some(h), .. } if h == dead
        ));
    }

    #[test]
    fn the_holder_asking_again_renews_its_own_lease() {
        let me = holder("me", 11);
        assert_eq!(
            decide(Some(&held(&me, 90_000)), &me, 1_000, LEASE, everyone_dies),
            LeaseDecision::Take {
                version: 7,
                until_ms: 1_000 + LEASE,
                previous: Previous::Own
            }
        );
    }

    #[test]
    fn a_process_recorded_for_another_holder_is_not_trusted() {
        // An old plugboard took the lease over by setting holder and lapse alone: the recorded
        // (dead) process belongs to the previous holder.
        let me = holder("me", 11);
        let mut row = held(&holder("earlier", 10), 90_000);
        row.holder = Some("old-plugboard".to_owned());
        assert_eq!(
            decide(Some(&row), &me, 1_000, LEASE, everyone_dies),
            LeaseDecision::Held {
                version: 7,
                holder: None,
                until_ms: 90_000
            }
        );
        // No process at all, or a pid that is not one: unjudgeable, so held.
        for (pid, host) in [(None, Some("h")), (Some(1), None), (Some(-5), Some("h"))] {
            let row = StoredLease {
                version: 1,
                holder: Some("x".to_owned()),
                until_ms: Some(90_000),
                pid,
                host: host.map(str::to_owned),
                process_of: Some("x".to_owned()),
            };
            assert!(matches!(
                decide(Some(&row), &me, 1_000, LEASE, everyone_dies),
                LeaseDecision::Held { holder: None, .. }
            ));
        }
    }

    #[test]
    fn a_holder_without_a_lapse_time_holds_nothing() {
        let me = holder("me", 11);
        let row = StoredLease {
            version: 2,
            holder: Some("half-written".to_owned()),
            ..StoredLease::default()
        };
        assert!(matches!(
            decide(Some(&row), &me, 0, LEASE, nobody_dies),
            LeaseDecision::Take {
                previous: Previous::Free,
                ..
            }
        ));
    }

    /// Property: whatever the row and the time, a lease is never granted while another holder's
    /// lease still runs and that holder is not provably dead; and it always is granted otherwise.
    #[test]
    fn a_running_live_lease_is_never_granted_to_another() {
        let mut rng = fastrand::Rng::with_seed(13);
        for _ in 0..10_000 {
            let ids = ["a", "b", "c"];
            let row = StoredLease {
                version: rng.i64(1..5),
                holder: rng.bool().then(|| ids[rng.usize(..3)].to_owned()),
                until_ms: rng.bool().then(|| rng.i64(0..200)),
                pid: rng.bool().then(|| rng.i64(-2..4)),
                host: rng.bool().then(|| "h".to_owned()),
                process_of: rng.bool().then(|| ids[rng.usize(..3)].to_owned()),
            };
            let requester = holder(ids[rng.usize(..3)], 99);
            let now = rng.i64(0..200);
            let dead_pid = rng.u32(0..4);
            let is_dead = |pid: u32, _: &str| pid == dead_pid;
            let decision = decide(Some(&row), &requester, now, 50, is_dead);
            let runs_for_another = matches!(
                (&row.holder, row.until_ms),
                (Some(id), Some(until)) if *id != requester.id && until > now
            );
            let provably_dead = row.process_of == row.holder
                && row.host.is_some()
                && row
                    .pid
                    .and_then(|p| u32::try_from(p).ok())
                    .is_some_and(|p| p == dead_pid);
            match decision {
                LeaseDecision::Held { version, .. } => {
                    assert!(runs_for_another && !provably_dead, "{row:?} {requester:?}");
                    assert_eq!(version, row.version);
                }
                LeaseDecision::Take {
                    version, until_ms, ..
                } => {
                    assert!(!runs_for_another || provably_dead, "{row:?} {requester:?}");
                    assert_eq!((version, until_ms), (row.version, now + 50));
                }
                LeaseDecision::NoTokens => panic!("a row means tokens"),
            }
        }
    }

    #[test]
    fn a_commit_is_fenced_by_the_version() {
        assert_eq!(decide_commit(None, 3), CommitDecision::Gone);
        assert_eq!(decide_commit(Some(4), 3), CommitDecision::Conflict);
        assert_eq!(decide_commit(Some(2), 3), CommitDecision::Conflict);
        assert_eq!(
            decide_commit(Some(3), 3),
            CommitDecision::Write { version: 4 }
        );
    }
}
