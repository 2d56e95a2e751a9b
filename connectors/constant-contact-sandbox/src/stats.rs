//! Counters of what the sandbox saw and answered, readable by tests and at `/__sandbox/stats`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of the sandbox's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Every HTTP request received (API, OAuth and `/__sandbox`).
    pub requests: u64,
    /// Requests under `/v3`.
    pub api_requests: u64,
    /// API requests answered by a handler (past auth, limits and faults).
    pub api_served: u64,
    /// 401s for a missing, unknown or expired access token.
    pub unauthorized_401: u64,
    /// 403s for a token without the scope the path needs.
    pub forbidden_403: u64,
    /// 429 `throttled` answers (per-second limit or forced).
    pub throttled_429: u64,
    /// 429 `quota_exceeded` answers (daily cap).
    pub quota_429: u64,
    /// 429 answers of the token endpoint (1 request/second).
    pub token_throttled_429: u64,
    /// 429 "too many queued activities" answers of bulk endpoints (forced).
    pub queue_full_429: u64,
    /// Refresh-token grants served.
    pub refreshes: u64,
    /// Authorization codes exchanged for tokens.
    pub code_exchanges: u64,
    /// Token requests refused with `invalid_grant`.
    pub invalid_grants: u64,
    /// Injected 500/503 answers.
    pub injected_5xx: u64,
    /// Connections closed on purpose without an answer.
    pub dropped: u64,
    /// Of those, requests that were handled first (their effect happened) and whose answer was
    /// then lost.
    pub dropped_after_processing: u64,
    /// The most API requests admitted for one client within one rolling second.
    pub peak_per_second: u64,
    /// Milliseconds from the first admitted API request to the last: with `api_served`, the
    /// rate a limited client actually reached (what a share of the per-second limit is taken of).
    pub admitted_span_ms: u64,
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub api_requests: AtomicU64,
    pub api_served: AtomicU64,
    pub unauthorized_401: AtomicU64,
    pub forbidden_403: AtomicU64,
    pub throttled_429: AtomicU64,
    pub quota_429: AtomicU64,
    pub token_throttled_429: AtomicU64,
    pub queue_full_429: AtomicU64,
    pub refreshes: AtomicU64,
    pub code_exchanges: AtomicU64,
    pub invalid_grants: AtomicU64,
    pub injected_5xx: AtomicU64,
    pub dropped: AtomicU64,
    pub dropped_after_processing: AtomicU64,
    pub peak_per_second: AtomicU64,
    /// Unix milliseconds of the first admitted API request (0: none yet).
    pub first_admitted_ms: AtomicU64,
    /// Unix milliseconds of the latest admitted API request.
    pub last_admitted_ms: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// Notes an API request admitted at `now_ms` (Unix milliseconds).
    pub fn admitted_at(&self, now_ms: u64) {
        let _ = self.first_admitted_ms.compare_exchange(
            0,
            now_ms,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.last_admitted_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// Every counter back to zero.
    pub fn reset(&self) {
        for counter in [
            &self.requests,
            &self.api_requests,
            &self.api_served,
            &self.unauthorized_401,
            &self.forbidden_403,
            &self.throttled_429,
            &self.quota_429,
            &self.token_throttled_429,
            &self.queue_full_429,
            &self.refreshes,
            &self.code_exchanges,
            &self.invalid_grants,
            &self.injected_5xx,
            &self.dropped,
            &self.dropped_after_processing,
            &self.peak_per_second,
            &self.first_admitted_ms,
            &self.last_admitted_ms,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// A consistent-enough copy of every counter.
    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            requests: get(&self.requests),
            api_requests: get(&self.api_requests),
            api_served: get(&self.api_served),
            unauthorized_401: get(&self.unauthorized_401),
            forbidden_403: get(&self.forbidden_403),
            throttled_429: get(&self.throttled_429),
            quota_429: get(&self.quota_429),
            token_throttled_429: get(&self.token_throttled_429),
            queue_full_429: get(&self.queue_full_429),
            refreshes: get(&self.refreshes),
            code_exchanges: get(&self.code_exchanges),
            invalid_grants: get(&self.invalid_grants),
            injected_5xx: get(&self.injected_5xx),
            dropped: get(&self.dropped),
            dropped_after_processing: get(&self.dropped_after_processing),
            peak_per_second: get(&self.peak_per_second),
            admitted_span_ms: match get(&self.first_admitted_ms) {
                0 => 0,
                first => get(&self.last_admitted_ms).saturating_sub(first),
            },
        }
    }
}
