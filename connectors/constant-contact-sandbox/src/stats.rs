//! Counters of what the sandbox saw and answered, readable by tests and at `/__sandbox/stats`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Declares the plain counters once. Each becomes a field of [`Stats`] and an atomic of
/// [`Counters`] with the same name and doc, read by `Counters::snapshot` and zeroed by
/// `Counters::reset`, so a counter added here cannot be left out of any of them.
macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)+) => {
        /// A snapshot of the sandbox's counters.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct Stats {
            $($(#[$doc])* pub $name: u64,)+
            /// Milliseconds from the first admitted API request to the last: with `api_served`,
            /// the rate a limited client actually reached (what a share of the per-second limit
            /// is taken of).
            pub admitted_span_ms: u64,
        }

        /// The live counters behind [`Stats`].
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $($(#[$doc])* pub $name: AtomicU64,)+
            /// When API requests were admitted, for [`Stats::admitted_span_ms`].
            admitted: AdmittedSpan,
        }

        impl Counters {
            /// Every plain counter, with its name in [`Stats`].
            fn plain(&self) -> impl Iterator<Item = (&'static str, &AtomicU64)> {
                [$((stringify!($name), &self.$name)),+].into_iter()
            }

            /// A consistent-enough copy of every counter.
            pub fn snapshot(&self) -> Stats {
                Stats {
                    $($name: self.$name.load(Ordering::Relaxed),)+
                    admitted_span_ms: self.admitted.span_ms(),
                }
            }
        }
    };
}

counters! {
    /// Every HTTP request received (API, OAuth and `/__sandbox`).
    requests,
    /// Requests under `/v3`.
    api_requests,
    /// API requests answered by a handler (past auth, limits and faults).
    api_served,
    /// 401s for a missing, unknown or expired access token.
    unauthorized_401,
    /// 403s for a token without the scope the path needs.
    forbidden_403,
    /// 429 `throttled` answers (per-second limit or forced).
    throttled_429,
    /// 429 `quota_exceeded` answers (daily cap).
    quota_429,
    /// 429 answers of the token endpoint (1 request/second).
    token_throttled_429,
    /// 429 "too many queued activities" answers of bulk endpoints (forced).
    queue_full_429,
    /// Refresh-token grants served.
    refreshes,
    /// Authorization codes exchanged for tokens.
    code_exchanges,
    /// Token requests refused with `invalid_grant`.
    invalid_grants,
    /// Injected 500/503 answers.
    injected_5xx,
    /// Connections closed on purpose without an answer.
    dropped,
    /// Of those, requests that were handled first (their effect happened) and whose answer was
    /// then lost.
    dropped_after_processing,
    /// The most API requests admitted for one client within one rolling second.
    peak_per_second,
}

/// The first and latest instants an API request was admitted, in Unix milliseconds (0: none
/// yet); kept apart from the plain counters because the snapshot shows only their difference.
#[derive(Debug, Default)]
struct AdmittedSpan {
    first_ms: AtomicU64,
    last_ms: AtomicU64,
}

impl AdmittedSpan {
    fn note(&self, now_ms: u64) {
        let _ = self
            .first_ms
            .compare_exchange(0, now_ms, Ordering::Relaxed, Ordering::Relaxed);
        self.last_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    fn span_ms(&self) -> u64 {
        match self.first_ms.load(Ordering::Relaxed) {
            0 => 0,
            first => self.last_ms.load(Ordering::Relaxed).saturating_sub(first),
        }
    }

    fn reset(&self) {
        self.first_ms.store(0, Ordering::Relaxed);
        self.last_ms.store(0, Ordering::Relaxed);
    }
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// Notes an API request admitted at `now_ms` (Unix milliseconds).
    pub fn admitted_at(&self, now_ms: u64) {
        self.admitted.note(now_ms);
    }

    /// Every counter back to zero.
    pub fn reset(&self) {
        for (_, counter) in self.plain() {
            counter.store(0, Ordering::Relaxed);
        }
        self.admitted.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each counter shows under its own name in the snapshot (as `/__sandbox/stats` serves
    /// it), and a reset zeroes all of them, the admitted span included.
    #[test]
    fn every_counter_is_snapshotted_under_its_name_and_reset() {
        let counters = Counters::default();
        let names: Vec<&str> = counters.plain().map(|(name, _)| name).collect();
        for (value, (_, counter)) in (1..).zip(counters.plain()) {
            counter.store(value, Ordering::Relaxed);
        }
        counters.admitted_at(1_000);
        counters.admitted_at(1_250);

        let shown = serde_json::to_value(counters.snapshot()).expect("stats serialize");
        let shown = shown.as_object().expect("an object");
        for (value, name) in (1_u64..).zip(&names) {
            assert_eq!(shown[*name], value, "{name}");
        }
        assert_eq!(shown["admitted_span_ms"], 250);
        // Nothing in the snapshot that is neither a counter nor the span.
        assert_eq!(shown.len(), names.len() + 1, "{shown:?}");

        counters.reset();
        assert_eq!(counters.snapshot(), Stats::default());
        // The span starts again from the next admitted request, not from the old first one.
        counters.admitted_at(5_000);
        counters.admitted_at(5_040);
        assert_eq!(counters.snapshot().admitted_span_ms, 40);
    }
}
