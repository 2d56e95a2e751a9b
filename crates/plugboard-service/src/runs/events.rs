//! `GET …/runs/{run}/events`: the run's events as server-sent events, each `data:` the JSON
//! object `plugboard run --json` prints for it, with the event's sequence number as its `id`.
//! A subscriber gets the run from its first event, then live ones; the stream ends after the
//! run's terminal event (`run_finished` or `run_failed`).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, KeepAliveStream, Sse};
use plugboard_runner::RunId;
use tokio::sync::mpsc;

use super::owned_run;
use crate::Service;
use crate::auth::TenantScope;
use crate::error::ApiError;
use crate::openapi::{KeyErrors, RunNotFound, StoreFailed};

/// Events read from the store at a time.
const BATCH: i64 = 500;

/// The longest a stream waits without looking at the store (a safety net; changes wake it).
const RECHECK: Duration = Duration::from_secs(1);

/// A channel's receiving end as a [`futures_core::Stream`], for [`Sse`].
pub struct EventStream(mpsc::Receiver<Result<SseEvent, Infallible>>);

impl futures_core::Stream for EventStream {
    type Item = Result<SseEvent, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// A reconnecting `EventSource` sends the id of the last event it received; the stream goes on
/// after it instead of repeating the run from its start.
const LAST_EVENT_ID: &str = "last-event-id";

#[utoipa::path(get, path = "/tenants/{tenant}/runs/{run}/events", tag = "runs", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id."), ("run" = String, Path, description = "The run's id."), ("Last-Event-ID" = Option<String>, Header, description = "Go on after this event (a reconnecting `EventSource` sends it).")),
    responses(
        (status = 200, description = "Server-sent events: one `data:` JSON event per step change, with an `id`; the stream ends after the run ends.", content_type = "text/event-stream", body = String),
        KeyErrors, RunNotFound, StoreFailed,
    ))]
pub(super) async fn stream(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Sse<KeepAliveStream<EventStream>>, ApiError> {
    let run = owned_run(&service, &scope, &id).await?;
    Ok(event_stream(service, run.id, &headers))
}

/// The SSE response of run `run`'s events, from after the `Last-Event-ID` in `headers` (the
/// caller has checked who may see the run).
pub(crate) fn event_stream(
    service: Arc<Service>,
    run: i64,
    headers: &HeaderMap,
) -> Sse<KeepAliveStream<EventStream>> {
    let after = headers
        .get(LAST_EVENT_ID)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    let (sender, receiver) = mpsc::channel(64);
    tokio::spawn(forward(service, run, after, sender));
    Sse::new(EventStream(receiver)).keep_alive(KeepAlive::default())
}

/// Whether the run has ended (and so has written its last event).
async fn ended(service: &Service, run: i64) -> bool {
    if service.live_runs.phase(run).is_some() {
        return false;
    }
    let record = service.runner.store().run(RunId(run)).await;
    match record {
        Ok(Some(record)) => record.status.has_ended(),
        Ok(None) | Err(_) => true,
    }
}

/// Sends the run's events until it ends or the client goes away.
async fn forward(
    service: Arc<Service>,
    run: i64,
    mut after: i64,
    sender: mpsc::Sender<Result<SseEvent, Infallible>>,
) {
    let mut changes = service.live_runs.subscribe();
    loop {
        // Looked at before reading: a run seen ended has written all its events.
        let done = ended(&service, run).await;
        // A failure is logged where it happened; the stream ends.
        let Ok(batch) = super::events_after(&service, run, after, BATCH).await else {
            return;
        };
        let full = batch.len() as i64 == BATCH;
        for (seq, event) in batch {
            after = seq;
            let frame = SseEvent::default()
                .id(seq.to_string())
                .data(event.to_string());
            if sender.send(Ok(frame)).await.is_err() {
                return;
            }
        }
        if full {
            continue;
        }
        // A stopping service ends the streams of runs it stopped (they go on after a restart).
        if done || (service.live_runs.stopping() && service.live_runs.phase(run).is_none()) {
            return;
        }
        tokio::select! {
            _ = changes.changed() => {}
            () = tokio::time::sleep(RECHECK) => {}
            () = sender.closed() => return,
        }
    }
}
