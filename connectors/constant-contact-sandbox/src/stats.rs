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
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
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
        }
    }
}
