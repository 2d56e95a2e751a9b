//! Rate-limit budgets shared by every process using one API key: [`LimitStore`]. The
//! admission rules are in [`limiter`](super::limiter).

use std::fmt;

use super::StoreFuture;

/// One rate limit to charge for a request, already resolved to its key.
#[derive(Debug, Clone, PartialEq)]
pub enum LimitCharge {
    /// A rolling limit: at most `limit` requests in any `window_us`, as seen by the server.
    ///
    /// Two rules apply together. GCRA spacing: requests are at least `interval_us` apart (the
    /// theoretical arrival time is persisted). The window guard: a request is sent no earlier than
    /// `window_us` after the moment the `limit`-th previous request was known to be over (its
    /// response arrived), which is the latest the server can have counted it; so network delay
    /// on one request cannot squeeze `limit + 1` arrivals into one window.
    Rolling {
        /// The budget's key (connector, limit and scope value; never a raw secret).
        key: String,
        /// Requests allowed per window.
        limit: u64,
        /// The window, with the safety margin applied, in microseconds.
        window_us: i64,
        /// The GCRA emission interval (window / limit), in microseconds.
        interval_us: i64,
        /// How long an unfinished request (no completion recorded) still counts as in flight;
        /// after that (its process died) its send time is used.
        inflight_cap_us: i64,
    },
    /// A calendar window counter (e.g. a daily quota reset at 00:00 UTC).
    Counter {
        /// The budget's key.
        key: String,
        /// Start of the current window, ms since the epoch.
        window_start_ms: i64,
        /// When the window ends and the budget returns, ms since the epoch.
        window_end_ms: i64,
        /// Requests allowed per window.
        limit: u64,
    },
}

/// A slot taken in a rolling budget; report the request's end with [`LimitStore::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotTicket {
    /// The budget's key.
    pub key: String,
    /// The slot's sequence number in that budget.
    pub seq: i64,
}

/// The limiter's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Every budget was charged: send now, then report completion of the tickets.
    Granted {
        /// The rolling slots taken.
        tickets: Vec<SlotTicket>,
    },
    /// Not yet: nothing was charged; ask again after `wait_us` microseconds.
    Wait {
        /// How long until a slot may be free.
        wait_us: i64,
    },
    /// A counter is used up until `resets_at_ms`; nothing was charged.
    Exhausted {
        /// When the exhausted window ends, ms since the epoch.
        resets_at_ms: i64,
    },
}

/// The rate-limit budgets: slots of rolling windows and calendar counters, charged atomically
/// across processes (decided by [`limiter::decide`](super::limiter::decide)).
pub trait LimitStore: Send + Sync + fmt::Debug {
    /// Charges every limit for one request about to be sent at `now_ms`, atomically across
    /// processes: either all are charged, or none (and the answer says how long to wait or when
    /// a used-up quota resets).
    fn acquire<'a>(&'a self, charges: &'a [LimitCharge], now_ms: i64)
    -> StoreFuture<'a, Admission>;
    /// Records that the requests holding `tickets` were over (answered or abandoned) at
    /// `done_ms`, the latest moment the server can have counted them.
    fn complete<'a>(&'a self, tickets: &'a [SlotTicket], done_ms: i64) -> StoreFuture<'a, ()>;
    /// Marks a counter window as used up (the API said so before our count did).
    fn exhaust<'a>(&'a self, key: &'a str, window_start_ms: i64, limit: u64)
    -> StoreFuture<'a, ()>;
}
