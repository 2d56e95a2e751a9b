//! Constant Contact's rate limits, per client_id: requests per rolling second and per UTC day.
//!
//! The per-second limit is a rolling one-second window (a log of the admitted requests' instants):
//! at most N requests are admitted in any interval of one second. Refused requests do not count.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::util::utc_day;

/// At most `limit` events in any rolling second.
#[derive(Debug)]
pub(crate) struct SlidingWindow {
    limit: u32,
    hits: VecDeque<Instant>,
}

impl SlidingWindow {
    /// A window admitting `limit` events per second.
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            hits: VecDeque::with_capacity(limit as usize),
        }
    }

    /// Admits the event at `now` (and records it) or refuses it.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        while let Some(front) = self.hits.front()
            && now.duration_since(*front) >= Duration::from_secs(1)
        {
            self.hits.pop_front();
        }
        if self.hits.len() < self.limit as usize {
            self.hits.push_back(now);
            true
        } else {
            false
        }
    }

    /// How many events were admitted in the last second.
    pub fn current(&self) -> usize {
        self.hits.len()
    }
}

/// A limiter's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Admitted; carries how many requests the client made in the current second.
    Admitted(usize),
    /// Over the per-second limit: 429 `throttled`.
    Throttled,
    /// Over the daily cap: 429 `quota_exceeded`.
    QuotaExceeded,
}

#[derive(Debug)]
struct ClientBudget {
    second: Option<SlidingWindow>,
    day: i64,
    used_today: u32,
}

/// The API limits of every client seen so far.
#[derive(Debug)]
pub(crate) struct Limiter {
    per_second: Option<u32>,
    daily: Option<u32>,
    clients: HashMap<String, ClientBudget>,
}

impl Limiter {
    /// A limiter with the configured limits (`None`: unlimited).
    pub fn new(per_second: Option<u32>, daily: Option<u32>) -> Self {
        Self {
            per_second,
            daily,
            clients: HashMap::new(),
        }
    }

    /// Charges one API request of `client_id` made at `now` (`now_ms` for the UTC day).
    pub fn check(&mut self, client_id: &str, now: Instant, now_ms: i64) -> Verdict {
        if self.per_second.is_none() && self.daily.is_none() {
            return Verdict::Admitted(0);
        }
        let per_second = self.per_second;
        let budget = self
            .clients
            .entry(client_id.to_owned())
            .or_insert_with(|| ClientBudget {
                second: per_second.map(SlidingWindow::new),
                day: utc_day(now_ms),
                used_today: 0,
            });
        let today = utc_day(now_ms);
        if budget.day != today {
            budget.day = today;
            budget.used_today = 0;
        }
        if let Some(cap) = self.daily
            && budget.used_today >= cap
        {
            return Verdict::QuotaExceeded;
        }
        let current = match &mut budget.second {
            Some(window) => {
                if !window.try_acquire(now) {
                    return Verdict::Throttled;
                }
                window.current()
            }
            None => 0,
        };
        budget.used_today += 1;
        Verdict::Admitted(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_admits_n_per_rolling_second() {
        let start = Instant::now();
        let mut window = SlidingWindow::new(4);
        let admitted = (0..10).filter(|_| window.try_acquire(start)).count();
        assert_eq!(admitted, 4);
        assert!(!window.try_acquire(start + Duration::from_millis(999)));
        assert!(window.try_acquire(start + Duration::from_millis(1000)));
    }

    #[test]
    fn daily_cap_resets_at_utc_midnight() {
        let start = Instant::now();
        let mut limiter = Limiter::new(None, Some(2));
        let day_ms = 86_400_000 * 20_000;
        assert!(matches!(
            limiter.check("c", start, day_ms),
            Verdict::Admitted(_)
        ));
        assert!(matches!(
            limiter.check("c", start, day_ms + 1),
            Verdict::Admitted(_)
        ));
        assert_eq!(
            limiter.check("c", start, day_ms + 2),
            Verdict::QuotaExceeded
        );
        assert!(matches!(
            limiter.check("other", start, day_ms + 2),
            Verdict::Admitted(_)
        ));
        let next_day = day_ms + 86_400_000;
        assert!(matches!(
            limiter.check("c", start, next_day),
            Verdict::Admitted(_)
        ));
    }
}
