//! Calls that must take effect at most once: those of methods that are not idempotent (creates,
//! sends, imports).
//!
//! Before such a call is sent, the journal records its intent. The output recorded when it
//! completes supersedes the intent; an answer saying it had no effect (an API error, a request
//! never sent) clears it. What is left is a call that was sent and never answered: its outcome
//! is unknown, and sending it again could do it twice. So neither a step retry nor a resume
//! sends it blindly: a method that can find the effect of a call ([`Method::find_effect`], e.g.
//! a contact by its email) is asked, and the call is sent again only when it had none; for any
//! other method the run stops on that call with an "outcome unknown" error, and a person
//! resumes with `--mark-done KEY` (it took effect) or `--resend KEY` (it did not).
//!
//! Two attempts of one call can overlap when a run's pieces run on Temporal: a worker cut off
//! from the cluster, not from the store, is still sending when the cluster retries its piece
//! elsewhere. There the journal's claim on a call is a lease the sending attempt keeps renewing
//! ([`Journal::claim_renewal`]); the other attempt finds it [`CallClaim::Held`] and waits for
//! the call's output, instead of finding no effect yet and sending it a second time.
//!
//! [`Method::find_effect`]: plugboard_core::Method::find_effect

use std::sync::mpsc;
use std::time::{Duration, Instant};

use plugboard_core::{ConnectorError, EFFECT_LOOKUP_SUFFIX};
use serde_json::Value;

use super::journal::{CallClaim, Journal};
use super::{Engine, Failure, connector_failure};

/// How often an attempt looks again at a call another attempt holds.
const HELD_CALL_POLL: Duration = Duration::from_millis(500);
/// How long an attempt waits for a held call before it gives its piece back to be retried:
/// longer than a call may rightly take (a bulk import that waits for its activities holds its
/// call for up to an hour), so one attempt outwaits it.
const HELD_CALL_WAIT: Duration = Duration::from_secs(70 * 60);

/// What repeating a call does, from its method's descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effects {
    /// Idempotent: a repeat is harmless, so calls go out as they are.
    Repeatable,
    /// Not idempotent: at most once; `finds_effect` says whether the method can tell whether an
    /// unanswered call took effect.
    Once {
        /// The method implements the effect lookup.
        finds_effect: bool,
    },
}

/// One call to make: where, what, and its journal key (`step` or `step[n]`).
pub(crate) struct Call<'c> {
    pub key: &'c str,
    pub connection: &'c str,
    pub method: &'c str,
    pub effects: Effects,
}

impl Engine<'_> {
    /// Makes `call` through the runner, at most once when its method is not idempotent.
    pub(super) fn call_once(
        &self,
        call: &Call<'_>,
        input: Value,
        on_record: &mut dyn FnMut(Value) -> Result<(), ConnectorError>,
    ) -> Result<Value, Failure> {
        let Effects::Once { finds_effect } = call.effects else {
            return self
                .runner
                .call(call.connection, call.method, input, on_record)
                .map_err(connector_failure);
        };
        if let Some(output) = self.claim(call, finds_effect, &input)? {
            return Ok(output);
        }
        // Kept only when it can be used: a bulk input is not copied for nothing.
        let kept = finds_effect.then(|| input.clone());
        let sent = holding(self.journal, call.key, || {
            self.runner
                .call(call.connection, call.method, input, on_record)
        });
        match sent {
            Ok(output) => Ok(output),
            // Stopped while it was in flight: the intent stays, a resume settles it.
            Err(ConnectorError::OutcomeUnknown { .. }) if self.runner.is_cancelled() => {
                Err(Failure::Cancelled)
            }
            Err(ConnectorError::OutcomeUnknown { message }) => {
                match self.find_effect(call, finds_effect, &kept.unwrap_or_default(), &message)? {
                    Some(output) => Ok(output),
                    None => Err(Failure::Connector(ConnectorError::Transport {
                        message: format!(
                            "{message}; the API shows the call had no effect, so it can be sent \
                             again"
                        ),
                    })),
                }
            }
            Err(error) => {
                // Answered without effect, or never sent (`Cancelled` is returned only before
                // the request left).
                self.journal
                    .clear_intent(call.key)
                    .map_err(|e| Failure::Journal(e.message))?;
                Err(connector_failure(error))
            }
        }
    }

    /// Claims `call` for this attempt before it is sent (recording its intent): `None` when
    /// this attempt is to send it, `Some(output)` when it already took effect (another attempt
    /// completed it, or an earlier one sent it and the method found its effect).
    fn claim(
        &self,
        call: &Call<'_>,
        finds_effect: bool,
        input: &Value,
    ) -> Result<Option<Value>, Failure> {
        let started = Instant::now();
        loop {
            match self
                .journal
                .claim_call(call.key)
                .map_err(|e| Failure::Journal(e.message))?
            {
                CallClaim::Done(output) => return Ok(Some(output)),
                CallClaim::Taken { unknown: false } => return Ok(None),
                CallClaim::Taken { unknown: true } => {
                    // An earlier attempt, in this process or one that died, sent it unanswered.
                    let unknown = "an earlier attempt sent it and got no answer";
                    if let Some(output) = self.find_effect(call, finds_effect, input, unknown)? {
                        return Ok(Some(output));
                    }
                    // It had no effect, and the lookup cleared its intent: claim it afresh.
                }
                CallClaim::Held => {
                    if self.runner.is_cancelled() {
                        return Err(Failure::Cancelled);
                    }
                    if started.elapsed() >= HELD_CALL_WAIT {
                        // The surroundings' failure, not the run's: the piece is retried.
                        return Err(Failure::Journal(format!(
                            "call `{}` is still being sent by another attempt after {} s",
                            call.key,
                            HELD_CALL_WAIT.as_secs()
                        )));
                    }
                    std::thread::sleep(HELD_CALL_POLL);
                }
            }
        }
    }

    /// Settles a call whose outcome is unknown: `Some(output)` when it took effect, `None`
    /// (intent cleared) when it did not; an "outcome unknown" failure when the method cannot
    /// tell.
    fn find_effect(
        &self,
        call: &Call<'_>,
        finds_effect: bool,
        input: &Value,
        why_unknown: &str,
    ) -> Result<Option<Value>, Failure> {
        if !finds_effect {
            return Err(Failure::OutcomeUnknown {
                key: call.key.to_owned(),
                message: why_unknown.to_owned(),
            });
        }
        let lookup = format!("{}{EFFECT_LOOKUP_SUFFIX}", call.method);
        // Held like the call: an attempt that waits for it must not take it over meanwhile.
        let found = holding(self.journal, call.key, || {
            self.runner
                .call(call.connection, &lookup, input.clone(), &mut |_| Ok(()))
        })
        .map_err(connector_failure)?;
        if found.is_null() {
            self.journal
                .clear_intent(call.key)
                .map_err(|e| Failure::Journal(e.message))?;
            return Ok(None);
        }
        Ok(Some(found))
    }
}

/// Runs `send` while the journal's claim on call `key` is held: a journal whose claims lapse
/// ([`Journal::claim_renewal`]) is asked to hold it again on a thread of its own until `send`
/// returns, so a call in flight longer than a lease is not taken over by another attempt.
fn holding<T>(journal: &dyn Journal, key: &str, send: impl FnOnce() -> T) -> T {
    let Some(every) = journal.claim_renewal() else {
        return send();
    };
    let (sent, wait) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(every) {
                // A renewal that fails is tried again at the next tick (a lease outlives three);
                // the journal, which knows the run, reports it.
                let _ = journal.hold_call(key);
            }
        });
        let result = send();
        drop(sent);
        result
    })
}
