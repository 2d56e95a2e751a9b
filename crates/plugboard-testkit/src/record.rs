//! Recording: a [`Host`] that forwards to a real one and keeps every exchange for a cassette.
//!
//! Wrap the host a live run uses (usually a [`SessionHost`](crate::SessionHost) over the runner's
//! executor, against a sandbox or any local server) in a [`RecordingHost`], run the calls, then
//! take the cassette with [`RecordingHost::cassette`], which always scrubs it. The raw exchanges
//! are kept in memory only, and the host's `Debug` output shows their count, never their content.

use std::sync::Mutex;
use std::time::Duration;

use plugboard_core::{ConnectorError, Host, HttpRequest, HttpResponse, LogLevel};
use serde_json::Value;

use crate::KitError;
use crate::cassette::{Cassette, Interaction};
use crate::scrub::Scrubber;

/// A [`Host`] that forwards everything to `inner` and records each `send`; see the module docs.
///
/// ```
/// use plugboard_core::{Host, HttpRequest, HttpResponse};
/// use plugboard_testkit::{Cassette, Interaction, RecordingHost, ReplayHost, Scrubber};
///
/// // Any host will do as the "real" one; here, a replay of a hand-written cassette.
/// let mut source = Cassette::new("source");
/// source.interactions.push(Interaction::new(
///     HttpRequest::get("/me"),
///     Ok(HttpResponse::json(200, &serde_json::json!({"access_token": "tok-123456"}))),
/// ));
/// let recorder = RecordingHost::new(ReplayHost::new(source));
/// recorder.send(HttpRequest::get("/me")).expect("answered");
/// let cassette = recorder.cassette("me", &Scrubber::new()).expect("scrubbed");
/// assert!(!cassette.to_json().expect("json").contains("tok-123456"));
/// ```
pub struct RecordingHost<H> {
    inner: H,
    exchanges: Mutex<Vec<Interaction>>,
    sleeps: Mutex<Vec<Duration>>,
    /// Waits since the last request, in milliseconds: attached to the next exchange.
    pending: Mutex<Vec<u64>>,
}

impl<H> std::fmt::Debug for RecordingHost<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingHost")
            .field(
                "exchanges",
                &self
                    .exchanges
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .len(),
            )
            .finish_non_exhaustive()
    }
}

impl<H: Host> RecordingHost<H> {
    /// Records what goes through `inner`.
    pub fn new(inner: H) -> Self {
        Self {
            inner,
            exchanges: Mutex::new(Vec::new()),
            sleeps: Mutex::new(Vec::new()),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// The wrapped host.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// How many exchanges were recorded.
    pub fn len(&self) -> usize {
        self.exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The waits the connector asked for while recording, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The recorded exchanges as a cassette named `name`, scrubbed by `scrubber`.
    ///
    /// `recorded_at` is left empty, so two recordings of the same exchanges are identical;
    /// [`Cassette::save`] callers that want the date set it (see [`crate::cassette::today_utc`]).
    pub fn cassette(&self, name: &str, scrubber: &Scrubber) -> Result<Cassette, KitError> {
        let mut cassette = Cassette::new(name);
        cassette.interactions = self
            .exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        scrubber.scrub(&cassette)
    }
}

impl<H: Host> Host for RecordingHost<H> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let result = self.inner.send(request.clone());
        let waited = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut interaction = Interaction::new(request, result.clone());
        interaction.waited_ms = waited;
        self.exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(interaction);
        result
    }

    fn emit(&self, record: Value) -> Result<(), ConnectorError> {
        self.inner.emit(record)
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message);
    }

    fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    fn sleep(&self, duration: Duration) -> Result<(), ConnectorError> {
        self.sleeps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(duration);
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
        self.inner.sleep(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::Outcome;
    use crate::replay::ReplayHost;
    use serde_json::json;

    /// A stand-in for a live server: answers with a token in the body, and fails one request.
    struct FakeServer;

    impl Host for FakeServer {
        fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
            match request.path.as_str() {
                "/token-echo" => Ok(HttpResponse {
                    status: 200,
                    headers: vec![
                        ("date".into(), format!("{:?}", std::time::SystemTime::now())),
                        ("content-type".into(), "application/json".into()),
                        ("set-cookie".into(), "sid=cookie-value-42".into()),
                    ],
                    body: json!({
                        "access_token": "live-access-token-1",
                        "note": "query was secret-setting-value"
                    })
                    .to_string(),
                }),
                _ => Err(ConnectorError::Timeout),
            }
        }
        fn emit(&self, _: Value) -> Result<(), ConnectorError> {
            Ok(())
        }
        fn log(&self, _: LogLevel, _: &str) {}
        fn is_cancelled(&self) -> bool {
            false
        }
        fn sleep(&self, _: Duration) -> Result<(), ConnectorError> {
            Ok(())
        }
    }

    fn record_once() -> Cassette {
        let recorder = RecordingHost::new(FakeServer);
        recorder
            .send(HttpRequest::get("/token-echo").query("key", "secret-setting-value"))
            .expect("answered");
        recorder.sleep(Duration::from_secs(1)).expect("waits");
        recorder
            .send(HttpRequest::get("/slow"))
            .expect_err("times out");
        assert_eq!(recorder.sleeps(), [Duration::from_secs(1)]);
        let scrubber = Scrubber::new().secret("secret-setting-value");
        recorder.cassette("fake", &scrubber).expect("scrubbed")
    }

    #[test]
    fn recording_scrubs_tokens_cookies_and_secret_settings() {
        let cassette = record_once();
        let text = cassette.to_json().expect("json");
        for leak in [
            "live-access-token-1",
            "secret-setting-value",
            "cookie-value-42",
        ] {
            assert!(!text.contains(leak), "{leak} leaked:\n{text}");
        }
        assert_eq!(cassette.interactions.len(), 2);
        assert_eq!(
            cassette.interactions[1].outcome,
            Outcome::Error(ConnectorError::Timeout)
        );
        assert!(
            !text.contains("\"date\""),
            "volatile headers are dropped: {text}"
        );
    }

    #[test]
    fn recording_twice_writes_identical_files() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let first = record_once()
            .save(dir.path().join("a.json"))
            .expect("saved");
        let second = record_once()
            .save(dir.path().join("b.json"))
            .expect("saved");
        let read = |path| std::fs::read(path).expect("readable");
        assert_eq!(read(&first), read(&second));
    }

    #[test]
    fn a_scrubbed_recording_replays() {
        let host = ReplayHost::new(record_once());
        let response = host
            .send(HttpRequest::get("/token-echo").query("key", "another-secret-entirely"))
            .expect("the scrubbed query value matches any value");
        assert!(response.body.contains("[scrubbed]"));
        assert_eq!(
            host.send(HttpRequest::get("/slow")),
            Err(ConnectorError::Timeout)
        );
        host.assert_all_used();
    }

    #[test]
    fn debug_shows_no_content() {
        let recorder = RecordingHost::new(FakeServer);
        recorder
            .send(HttpRequest::get("/token-echo"))
            .expect("answered");
        let debug = format!("{recorder:?}");
        assert!(!debug.contains("live-access-token-1"), "{debug}");
        assert!(debug.contains("exchanges: 1"), "{debug}");
    }
}
