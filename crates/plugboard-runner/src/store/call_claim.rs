//! Claims on calls that must take effect at most once, for attempts that may overlap.
//!
//! Before such a call is sent, its intent is journaled (`#intent <key>`, see
//! `plugboard_runner::workflow`). A run executed by one process at a time writes `true`. The
//! pieces of a run on Temporal may run twice at once: a worker cut off from the cluster but not
//! from the store keeps sending while the cluster retries its piece elsewhere. So there the
//! intent is a lease: `{"holder", "pid", "host", "until_ms"}`, renewed while the call is in
//! flight. Another attempt that finds a running lease waits for the call's answer instead of
//! asking whether it took effect (it may not have yet) and sending it again.
//!
//! As with the refresh lease ([`super::lease`]), the rules are one pure function, [`decide`],
//! that every backend calls inside its transaction with its own clock.

use serde_json::{Value, json};

use super::LeaseHolder;

/// The prefix of intent entries in a run's journal: `#intent <call key>`.
pub const INTENT_PREFIX: &str = "#intent ";

/// Whether a stored intent says its call was sent and not yet settled: `true` (a run executed by
/// one process) or a lease (pieces that may overlap); `false` is a cleared intent.
pub fn intent_is_pending(intent: &Value) -> bool {
    matches!(intent, Value::Bool(true) | Value::Object(_))
}

/// Who may send a call, as [`RunStore::claim_call`](super::RunStore::claim_call) answers.
#[derive(Debug, Clone, PartialEq)]
pub enum CallClaim {
    /// The call's output is journaled: another attempt completed it.
    Done(Value),
    /// The claimant holds the call now and sends it. `unknown`: an earlier attempt sent it and
    /// never learned whether it took effect (its lease lapsed, or its process is dead).
    Taken {
        /// The earlier attempt's outcome is unknown.
        unknown: bool,
    },
    /// Another attempt, alive as far as anyone can tell, holds it until `until_ms`.
    Held {
        /// When its lease lapses unless renewed, ms since the epoch by the store's clock.
        until_ms: i64,
    },
}

/// What a backend must do about a call's intent, inside the transaction that read it: answer
/// `answer`, and store `write` as the intent when given.
#[derive(Debug, Clone, PartialEq)]
pub struct CallDecision<T> {
    /// The answer.
    pub answer: T,
    /// The intent entry to store (the claimant's lease, or `false` once released), if any.
    pub write: Option<Value>,
}

/// Decides a claim on a call by `claimant` at `now_ms` for `lease_ms`, given the call's
/// journaled output (`done`) and its stored intent.
///
/// A lease of another holder is waited for until it lapses, or taken at once when its process is
/// provably dead (`is_dead(pid, host)`, asked only then). The claimant's own lease is renewed.
pub fn decide(
    done: Option<&Value>,
    intent: Option<&Value>,
    claimant: &LeaseHolder,
    now_ms: i64,
    lease_ms: i64,
    is_dead: impl Fn(u32, &str) -> bool,
) -> CallDecision<CallClaim> {
    if let Some(output) = done {
        return CallDecision {
            answer: CallClaim::Done(output.clone()),
            write: None,
        };
    }
    let unknown = match intent {
        None | Some(Value::Bool(false)) => false,
        Some(lease @ Value::Object(_)) => {
            let holder = holder(lease);
            let until_ms = lease.get("until_ms").and_then(Value::as_i64).unwrap_or(0);
            let process = lease
                .get("pid")
                .and_then(Value::as_u64)
                .and_then(|pid| u32::try_from(pid).ok())
                .zip(lease.get("host").and_then(Value::as_str));
            if holder == Some(claimant.id.as_str()) {
                false
            } else if until_ms > now_ms && !process.is_some_and(|(pid, host)| is_dead(pid, host)) {
                return CallDecision {
                    answer: CallClaim::Held { until_ms },
                    write: None,
                };
            } else {
                true
            }
        }
        // `true`, or anything this version did not write: sent, outcome unknown.
        Some(_) => true,
    };
    CallDecision {
        answer: CallClaim::Taken { unknown },
        write: Some(json!({
            "holder": claimant.id,
            "pid": claimant.pid,
            "host": claimant.host,
            "until_ms": now_ms.saturating_add(lease_ms),
        })),
    }
}

/// Releases the call `claimant` claimed, once it was answered without effect: the intent
/// becomes `false` while it is still the claimant's own lease (the answer says whether it was).
/// A lease another attempt took after the claimant's lapsed makes the call that attempt's, and
/// stays; so does an intent without a lease (`true`, written by a worker of an earlier version).
pub fn release(intent: Option<&Value>, claimant: &LeaseHolder) -> CallDecision<bool> {
    let own = intent.and_then(holder) == Some(claimant.id.as_str());
    CallDecision {
        answer: own,
        write: own.then_some(Value::Bool(false)),
    }
}

/// Who holds the lease an intent is, if it is one.
fn holder(intent: &Value) -> Option<&str> {
    intent.get("holder").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: i64 = 15_000;

    fn claimant(id: &str) -> LeaseHolder {
        LeaseHolder {
            id: id.to_owned(),
            pid: 7,
            host: "here".to_owned(),
        }
    }

    fn lease_of(id: &str, until_ms: i64) -> Value {
        json!({"holder": id, "pid": 8, "host": "here", "until_ms": until_ms})
    }

    fn alive(_: u32, _: &str) -> bool {
        false
    }

    #[test]
    fn a_fresh_or_cleared_call_is_taken_with_a_lease_and_a_done_one_answered() {
        for intent in [None, Some(json!(false))] {
            let decision = decide(None, intent.as_ref(), &claimant("a"), 1_000, LEASE, alive);
            assert_eq!(decision.answer, CallClaim::Taken { unknown: false });
            assert_eq!(
                decision.write,
                Some(json!({"holder": "a", "pid": 7, "host": "here", "until_ms": 16_000}))
            );
        }
        let output = json!({"id": 1});
        let held = lease_of("b", 99_000);
        let decision = decide(
            Some(&output),
            Some(&held),
            &claimant("a"),
            1_000,
            LEASE,
            alive,
        );
        assert_eq!(
            decision,
            CallDecision {
                answer: CallClaim::Done(output),
                write: None
            }
        );
    }

    #[test]
    fn another_live_holder_is_waited_for_until_its_lease_lapses() {
        let held = lease_of("b", 5_000);
        let waiting = decide(None, Some(&held), &claimant("a"), 4_999, LEASE, alive);
        assert_eq!(
            waiting,
            CallDecision {
                answer: CallClaim::Held { until_ms: 5_000 },
                write: None
            }
        );
        let lapsed = decide(None, Some(&held), &claimant("a"), 5_000, LEASE, alive);
        assert_eq!(lapsed.answer, CallClaim::Taken { unknown: true });
    }

    #[test]
    fn a_dead_holder_is_taken_over_at_once_and_the_own_lease_renewed() {
        let held = lease_of("b", 99_000);
        let dead = decide(
            None,
            Some(&held),
            &claimant("a"),
            1_000,
            LEASE,
            |pid, host| (pid, host) == (8, "here"),
        );
        assert_eq!(dead.answer, CallClaim::Taken { unknown: true });
        let own = decide(None, Some(&held), &claimant("b"), 1_000, LEASE, alive);
        assert_eq!(own.answer, CallClaim::Taken { unknown: false });
        assert_eq!(own.write.and_then(|w| w["until_ms"].as_i64()), Some(16_000));
    }

    #[test]
    fn only_the_holder_releases_its_lease() {
        let held = lease_of("b", 99_000);
        assert_eq!(
            release(Some(&held), &claimant("b")),
            CallDecision {
                answer: true,
                write: Some(json!(false))
            }
        );
        for (intent, by) in [
            (Some(held), "a"),
            (None, "b"),
            (Some(json!(true)), "b"),
            (Some(json!(false)), "b"),
        ] {
            let kept = release(intent.as_ref(), &claimant(by));
            assert_eq!(
                kept,
                CallDecision {
                    answer: false,
                    write: None
                },
                "{intent:?} by {by}"
            );
        }
    }

    #[test]
    fn an_unleased_pending_intent_is_an_unknown_outcome() {
        let decision = decide(
            None,
            Some(&json!(true)),
            &claimant("a"),
            1_000,
            LEASE,
            alive,
        );
        assert_eq!(decision.answer, CallClaim::Taken { unknown: true });
        assert!(intent_is_pending(&json!(true)) && intent_is_pending(&lease_of("b", 1)));
        assert!(!intent_is_pending(&json!(false)));
    }
}
