//! Long loops reported compactly, for observers that store what they are told (a service's run
//! log, the shared store a run on Temporal is followed through): a 100,000-call `for_each`
//! would otherwise write 100,000 rows for a progress display.
//!
//! [`Coalescing`] passes every event through, except a loop's successful calls past its first
//! [`PASSED_THROUGH`]: those are counted and reported together as one
//! [`Event::ItemsFinished`], at least every [`REPORT_EVERY`] and every hundredth of the loop,
//! and always before the next event of that loop that is not a success (a failed call, the
//! step's end). Every count stays exact; only the number of events shrinks, to a few hundred
//! per loop plus one a second.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::{Event, Observer};

/// Successful calls of a loop passed through one by one before they are reported together.
pub const PASSED_THROUGH: u64 = 100;
/// The longest successful calls wait to be reported.
pub const REPORT_EVERY: Duration = Duration::from_secs(1);

/// An observer that reports long loops compactly to `inner` (see the module docs).
pub struct Coalescing<O> {
    inner: O,
    loops: Mutex<HashMap<String, Pending>>,
}

/// One loop's successful calls not reported yet.
struct Pending {
    seen: u64,
    unreported: u64,
    of: Option<u64>,
    reported_at: Instant,
}

impl<O: Observer> Coalescing<O> {
    /// Reports to `inner`.
    pub fn new(inner: O) -> Self {
        Self {
            inner,
            loops: Mutex::new(HashMap::new()),
        }
    }

    /// The observer reported to.
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// The event standing for `step`'s unreported successes, if any, which count as reported
    /// from now on; with `forget`, the loop's count ends too.
    fn take_unreported(&self, step: &str, forget: bool) -> Option<Event> {
        let mut loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
        let (count, of) = if forget {
            let pending = loops.remove(step)?;
            (pending.unreported, pending.of)
        } else {
            let pending = loops.get_mut(step)?;
            pending.reported_at = Instant::now();
            (std::mem::take(&mut pending.unreported), pending.of)
        };
        (count > 0).then(|| Event::ItemsFinished {
            step: step.to_owned(),
            count,
            of,
        })
    }

    /// Counts a successful call of `step`; what to send now: the event itself (among the
    /// first calls), a report of the calls so far (when one is due), or nothing.
    fn success(&self, step: &str, of: Option<u64>, event: &Event) -> Option<Event> {
        let mut loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
        let pending = loops.entry(step.to_owned()).or_insert_with(|| Pending {
            seen: 0,
            unreported: 0,
            of,
            reported_at: Instant::now(),
        });
        pending.seen += 1;
        pending.of = pending.of.or(of);
        if pending.seen <= PASSED_THROUGH {
            return Some(event.clone());
        }
        pending.unreported += 1;
        let hundredth = pending.of.map_or(u64::MAX, |of| (of / 100).max(1));
        let due = pending.unreported >= hundredth || pending.reported_at.elapsed() >= REPORT_EVERY;
        if !due {
            return None;
        }
        let count = std::mem::take(&mut pending.unreported);
        pending.reported_at = Instant::now();
        Some(Event::ItemsFinished {
            step: step.to_owned(),
            count,
            of: pending.of,
        })
    }
}

impl<O: Observer> Observer for Coalescing<O> {
    fn event(&self, event: &Event) {
        match event {
            Event::ItemFinished {
                step, of, ok: true, ..
            } => {
                if let Some(send) = self.success(step, *of, event) {
                    self.inner.event(&send);
                }
            }
            Event::StepStarted { step, .. } => {
                // A resumed run starts the step again; its count starts again too.
                self.take_unreported(step, true);
                self.inner.event(event);
            }
            Event::ItemFinished { step, .. } | Event::StepFailed { step, .. } => {
                if let Some(report) = self.take_unreported(step, false) {
                    self.inner.event(&report);
                }
                self.inner.event(event);
            }
            Event::StepFinished { step, .. } => {
                if let Some(report) = self.take_unreported(step, true) {
                    self.inner.event(&report);
                }
                self.inner.event(event);
            }
            _ => self.inner.event(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Kept(Mutex<Vec<Event>>);

    impl Observer for Kept {
        fn event(&self, event: &Event) {
            self.0.lock().expect("not poisoned").push(event.clone());
        }
    }

    fn item(step: &str, item: u64, of: Option<u64>, ok: bool) -> Event {
        Event::ItemFinished {
            step: step.to_owned(),
            item,
            of,
            ok,
            error: (!ok).then(|| "HTTP 500".to_owned()),
        }
    }

    /// Calls reported, successes and failures, from what `inner` was told.
    fn counts(events: &[Event], step: &str) -> (u64, u64) {
        events
            .iter()
            .fold((0, 0), |(ok, failed), event| match event {
                Event::ItemFinished {
                    step: s, ok: true, ..
                } if s == step => (ok + 1, failed),
                Event::ItemFinished { step: s, .. } if s == step => (ok, failed + 1),
                Event::ItemsFinished { step: s, count, .. } if s == step => (ok + count, failed),
                _ => (ok, failed),
            })
    }

    #[test]
    fn a_long_loop_is_reported_in_a_few_hundred_events_with_exact_counts() {
        let coalescing = Coalescing::new(Kept::default());
        let of = Some(100_000);
        coalescing.event(&Event::StepStarted {
            step: "sync".into(),
            calls: of,
        });
        for n in 0..100_000 {
            coalescing.event(&item("sync", n, of, n % 10_000 != 7));
        }
        coalescing.event(&Event::StepFinished {
            step: "sync".into(),
            elapsed_ms: 1,
        });
        let events = coalescing.inner().0.lock().expect("not poisoned").clone();
        assert_eq!(counts(&events, "sync"), (99_990, 10));
        assert!(events.len() < 400, "{} events", events.len());
        assert!(matches!(events.last(), Some(Event::StepFinished { .. })));
        // Every failure is passed through, in order after the successes before it.
        let failed: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                Event::ItemFinished {
                    item, ok: false, ..
                } => Some(*item),
                _ => None,
            })
            .collect();
        assert_eq!(failed, (0..10).map(|k| k * 10_000 + 7).collect::<Vec<_>>());
    }

    #[test]
    fn a_short_loop_and_other_events_pass_through_unchanged() {
        let coalescing = Coalescing::new(Kept::default());
        let sent = vec![
            Event::StepStarted {
                step: "a".into(),
                calls: Some(3),
            },
            item("a", 0, Some(3), true),
            item("a", 1, Some(3), false),
            item("a", 2, Some(3), true),
            Event::StepFinished {
                step: "a".into(),
                elapsed_ms: 5,
            },
            Event::RecordsProgress {
                step: "b".into(),
                count: 1_000,
            },
        ];
        for event in &sent {
            coalescing.event(event);
        }
        assert_eq!(*coalescing.inner().0.lock().expect("not poisoned"), sent);
    }

    #[test]
    fn a_stream_of_unknown_length_is_reported_at_least_every_second() {
        let coalescing = Coalescing::new(Kept::default());
        for n in 0..(PASSED_THROUGH + 5) {
            coalescing.event(&item("s", n, None, true));
        }
        std::thread::sleep(REPORT_EVERY + Duration::from_millis(50));
        coalescing.event(&item("s", PASSED_THROUGH + 5, None, true));
        let events = coalescing.inner().0.lock().expect("not poisoned").clone();
        assert_eq!(events.len() as u64, PASSED_THROUGH + 1);
        assert!(
            matches!(
                events.last(),
                Some(Event::ItemsFinished {
                    count: 6,
                    of: None,
                    ..
                })
            ),
            "{events:?}"
        );
    }
}
