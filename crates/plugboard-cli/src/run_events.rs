//! A run's progress across processes: the worker executing a run on Temporal publishes its
//! events to the shared store ([`Published`]), and the `plugboard run --temporal` that started it
//! follows them ([`follow`]) and shows them with its own reporter, so the person who started the
//! run sees what a local run shows (the same `--json` events, the same lines).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use plugboard_runner::{RunId, Session};
use plugboard_workflow::coalesce::Coalescing;
use plugboard_workflow::{Event, Observer};

use crate::progress::Reporter;

/// Events read per query when following.
const PAGE: usize = 500;
/// How often a follower asks for new events.
const POLL_EVERY: Duration = Duration::from_millis(300);

/// An observer that shows events with `reporter` and publishes them for a follower, long loops
/// compactly ([`Coalescing`]: a 100,000-call loop publishes a few hundred events).
pub struct Published<'a> {
    reporter: &'a Reporter,
    store: Coalescing<StoreSink<'a>>,
}

/// Appends events to the shared store.
struct StoreSink<'a> {
    session: &'a Session,
    run: RunId,
    /// Events the store refused (it was unreachable): the run goes on, the follower sees less.
    dropped: AtomicU64,
}

impl<'a> Published<'a> {
    /// Publishes run `run`'s events to `session`'s store, besides showing them with `reporter`.
    pub fn new(session: &'a Session, run: RunId, reporter: &'a Reporter) -> Self {
        Self {
            reporter,
            store: Coalescing::new(StoreSink {
                session,
                run,
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// How many events could not be published.
    pub fn dropped(&self) -> u64 {
        self.store.inner().dropped.load(Ordering::Relaxed)
    }
}

impl Observer for Published<'_> {
    fn event(&self, event: &Event) {
        self.reporter.event(event);
        self.store.event(event);
    }
}

impl Observer for StoreSink<'_> {
    fn event(&self, event: &Event) {
        let published = serde_json::to_value(event).ok().is_some_and(|value| {
            self.session
                .block_on(self.session.store().append_run_event(self.run, &value))
                .is_ok()
        });
        if !published {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Shows run `run`'s published events with `reporter` until `done` resolves, then the ones
/// published before it did; returns `done`'s output. Events that cannot be read are skipped
/// (progress is a courtesy; the result is what counts).
pub async fn follow<T>(
    session: &Session,
    run: RunId,
    reporter: &Reporter,
    done: impl std::future::Future<Output = T>,
) -> T {
    let store = session.store();
    let mut seen = 0;
    let show_new = async |seen: &mut i64| {
        // Bounded: the events published so far, read page by page.
        while let Ok(page) = store.run_events_after(run, *seen, PAGE).await {
            let Some(&(last, _)) = page.last() else { break };
            *seen = last;
            for (_, value) in page {
                if let Ok(event) = serde_json::from_value::<Event>(value) {
                    reporter.event(&event);
                }
            }
        }
    };
    tokio::pin!(done);
    let mut tick = tokio::time::interval(POLL_EVERY);
    let output = loop {
        tokio::select! {
            output = &mut done => break output,
            _ = tick.tick() => show_new(&mut seen).await,
        }
    };
    show_new(&mut seen).await;
    output
}
