//! Replaying a cassette: a [`Host`] that answers from recorded exchanges, offline and
//! deterministically.
//!
//! A request matches an entry when the method, the path, the query (names, values and order) and
//! the body (JSON compared as JSON) are equal; an entry value that is exactly [`SCRUBBED`] (or a
//! path with [`SCRUBBED`] in it) matches anything there. Each entry answers once. Requests are
//! matched in cassette order: a request takes the first unused entry it matches, so the same
//! request sent three times (polling a job) gets the three recorded answers in turn. With
//! [`ReplayHost::strict_order`], a request must match the very next unused entry.
//!
//! A request no entry matches fails the call with [`ConnectorError::Denied`], whose message names
//! the request, the cassette, and the closest entry with what differs. The miss is also kept, so
//! [`ReplayHost::assert_all_used`] reports it even if the connector swallowed the error; it also
//! reports entries the connector never asked for.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use plugboard_core::{ConnectorError, Host, HttpRequest, HttpResponse, LogLevel};
use serde_json::Value;

use crate::KitError;
use crate::cassette::{Cassette, Outcome};
use crate::clock::FakeClock;
use crate::scrub::SCRUBBED;

#[derive(Debug, Default)]
struct Progress {
    used: Vec<bool>,
    misses: Vec<String>,
}

/// A [`Host`] that answers from a [`Cassette`]; see the module docs.
///
/// `emit` and `log` are accepted and dropped (a [`Harness`](crate::Harness) collects them);
/// `sleep` and `is_cancelled` use the host's [`FakeClock`].
///
/// ```
/// use plugboard_core::{Host, HttpRequest, HttpResponse};
/// use plugboard_testkit::{Cassette, Interaction, ReplayHost};
///
/// let mut cassette = Cassette::new("doc");
/// cassette.interactions.push(Interaction::new(
///     HttpRequest::get("/ping"),
///     Ok(HttpResponse::json(200, &serde_json::json!({"ok": true}))),
/// ));
/// let host = ReplayHost::new(cassette);
/// assert_eq!(host.send(HttpRequest::get("/ping")).expect("recorded").status, 200);
/// let miss = host.send(HttpRequest::get("/pong")).expect_err("not recorded");
/// assert!(miss.to_string().contains("GET /pong"), "{miss}");
/// ```
#[derive(Debug)]
pub struct ReplayHost {
    cassette: Cassette,
    source: Option<PathBuf>,
    clock: FakeClock,
    strict: bool,
    progress: Mutex<Progress>,
}

impl ReplayHost {
    /// A host replaying `cassette`, with a fresh [`FakeClock`].
    pub fn new(cassette: Cassette) -> Self {
        let used = vec![false; cassette.interactions.len()];
        Self {
            cassette,
            source: None,
            clock: FakeClock::new(),
            strict: false,
            progress: Mutex::new(Progress {
                used,
                misses: Vec::new(),
            }),
        }
    }

    /// A host replaying the cassette file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KitError> {
        let path = path.as_ref();
        let mut host = Self::new(Cassette::load(path)?);
        host.source = Some(path.to_owned());
        Ok(host)
    }

    /// Uses `clock` for waits and cancellation (e.g. one the test also holds).
    #[must_use]
    pub fn with_clock(mut self, clock: FakeClock) -> Self {
        self.clock = clock;
        self
    }

    /// Requires requests in exactly the cassette's order.
    #[must_use]
    pub fn strict_order(mut self) -> Self {
        self.strict = true;
        self
    }

    /// The host's virtual clock.
    pub fn clock(&self) -> &FakeClock {
        &self.clock
    }

    /// The cassette being replayed.
    pub fn cassette(&self) -> &Cassette {
        &self.cassette
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entries no request has used yet, as `#index METHOD path` lines.
    pub fn unused(&self) -> Vec<String> {
        let progress = self.progress();
        self.cassette
            .interactions
            .iter()
            .enumerate()
            .filter(|(index, _)| !progress.used[*index])
            .map(|(index, interaction)| format!("#{index} {}", describe(&interaction.request)))
            .collect()
    }

    /// The messages of every request no entry matched.
    pub fn misses(&self) -> Vec<String> {
        self.progress().misses.clone()
    }

    /// Panics, listing them, when a request matched no entry or an entry was never used: a test
    /// that replays a cassette ends with this, so a cassette and the connector cannot drift apart.
    #[track_caller]
    pub fn assert_all_used(&self) {
        let misses = self.misses();
        let unused = self.unused();
        if misses.is_empty() && unused.is_empty() {
            return;
        }
        let mut message = format!("cassette `{}`{}:", self.cassette.name, self.location());
        for miss in &misses {
            message.push_str(&format!("\n  unmatched request: {miss}"));
        }
        for entry in &unused {
            message.push_str(&format!("\n  never used: {entry}"));
        }
        panic!("{message}");
    }

    fn location(&self) -> String {
        self.source
            .as_ref()
            .map(|path| format!(" ({})", path.display()))
            .unwrap_or_default()
    }

    /// Answers `request` as [`Host::send`] does, except that a request matching no unused entry
    /// but a used one whose answer was a failure a host retries (a 429 or a 5xx) gets that answer
    /// again: over HTTP, the runner's executor retries it, and its retries see the failure the
    /// recording saw, as many times as they ask, and end as the recording did.
    pub(crate) fn answer_over_http(
        &self,
        request: &HttpRequest,
    ) -> Result<HttpResponse, ConnectorError> {
        self.answer_with(request, true)
    }

    fn answer(&self, request: &HttpRequest) -> Result<HttpResponse, ConnectorError> {
        self.answer_with(request, false)
    }

    fn answer_with(
        &self,
        request: &HttpRequest,
        repeat_failures: bool,
    ) -> Result<HttpResponse, ConnectorError> {
        let mut progress = self.progress();
        let candidates = self
            .cassette
            .interactions
            .iter()
            .enumerate()
            .filter(|(index, _)| !progress.used[*index]);
        let found = if self.strict {
            candidates
                .take(1)
                .find(|(_, entry)| request_matches(&entry.request, request))
        } else {
            candidates
                .clone()
                .find(|(_, entry)| request_matches(&entry.request, request))
        };
        if let Some((index, entry)) = found {
            progress.used[index] = true;
            return entry.outcome.to_result();
        }
        if repeat_failures && let Some(failure) = self.repeated_failure(request, &progress.used) {
            return Ok(failure);
        }
        let message = self.miss_message(request, &progress.used);
        progress.misses.push(message.clone());
        Err(ConnectorError::Denied { message })
    }

    /// The answer of the last used entry `request` matches, when it was a 429 or a 5xx.
    fn repeated_failure(&self, request: &HttpRequest, used: &[bool]) -> Option<HttpResponse> {
        let (_, entry) = self
            .cassette
            .interactions
            .iter()
            .enumerate()
            .rev()
            .find(|(index, entry)| used[*index] && request_matches(&entry.request, request))?;
        match &entry.outcome {
            Outcome::Response(response) if response.status == 429 || response.status >= 500 => {
                Some(response.to_response())
            }
            _ => None,
        }
    }

    fn miss_message(&self, request: &HttpRequest, used: &[bool]) -> String {
        let mut message = format!(
            "replay: `{}` is not in cassette `{}`{}",
            describe(request),
            self.cassette.name,
            self.location()
        );
        let closest = self
            .cassette
            .interactions
            .iter()
            .enumerate()
            .max_by_key(|(index, entry)| {
                (
                    similarity(&entry.request, request),
                    !used[*index],
                    std::cmp::Reverse(*index),
                )
            });
        match closest {
            Some((index, entry)) => {
                let state = if used[index] {
                    "already used"
                } else {
                    "unused"
                };
                message.push_str(&format!(
                    "; the closest entry is #{index} `{}` ({state}), which differs in {}",
                    describe(&entry.request),
                    differences(&entry.request, request, used[index]).join(", ")
                ));
            }
            None => message.push_str("; the cassette is empty"),
        }
        message
    }
}

impl Host for ReplayHost {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        self.answer(&request)
    }

    fn emit(&self, _record: Value) -> Result<(), ConnectorError> {
        if self.clock.is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        Ok(())
    }

    fn log(&self, _level: LogLevel, _message: &str) {}

    fn is_cancelled(&self) -> bool {
        self.clock.is_cancelled()
    }

    fn sleep(&self, duration: Duration) -> Result<(), ConnectorError> {
        self.clock.sleep(duration)
    }
}

/// `METHOD path?query` of a request, for messages.
pub fn describe(request: &HttpRequest) -> String {
    let mut text = format!("{} {}", request.method, request.path);
    if !request.query.is_empty() {
        let query: Vec<String> = request
            .query
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        text.push(if request.path.contains('?') { '&' } else { '?' });
        text.push_str(&query.join("&"));
    }
    text
}

/// Whether a recorded request (`recorded`, which may hold [`SCRUBBED`] wildcards) matches a sent one.
pub fn request_matches(recorded: &HttpRequest, sent: &HttpRequest) -> bool {
    recorded.method == sent.method
        && text_matches(&recorded.path, &sent.path)
        && recorded.query.len() == sent.query.len()
        && recorded
            .query
            .iter()
            .zip(&sent.query)
            .all(|((rn, rv), (sn, sv))| rn == sn && text_matches(rv, sv))
        && body_matches(recorded, sent)
}

fn body_matches(recorded: &HttpRequest, sent: &HttpRequest) -> bool {
    let encode = |request: &HttpRequest| {
        request
            .body
            .as_ref()
            .and_then(|body| serde_json::to_value(body).ok())
    };
    match (encode(recorded), encode(sent)) {
        (None, None) => true,
        (Some(recorded), Some(sent)) => value_matches(&recorded, &sent),
        _ => false,
    }
}

/// JSON equality where a recorded string that is [`SCRUBBED`] matches any value.
fn value_matches(recorded: &Value, sent: &Value) -> bool {
    match (recorded, sent) {
        (Value::String(marker), _) if marker == SCRUBBED => true,
        (Value::String(r), Value::String(s)) => text_matches(r, s),
        (Value::Array(r), Value::Array(s)) => {
            r.len() == s.len() && r.iter().zip(s).all(|(r, s)| value_matches(r, s))
        }
        (Value::Object(r), Value::Object(s)) => {
            r.len() == s.len()
                && r.iter()
                    .all(|(key, rv)| s.get(key).is_some_and(|sv| value_matches(rv, sv)))
        }
        _ => recorded == sent,
    }
}

/// Text equality where each [`SCRUBBED`] in the recorded text stands for any run of characters.
fn text_matches(recorded: &str, sent: &str) -> bool {
    if !recorded.contains(SCRUBBED) {
        return recorded == sent;
    }
    let parts: Vec<&str> = recorded.split(SCRUBBED).collect();
    let (first, rest) = parts.split_first().expect("split yields at least one part");
    let Some(mut remaining) = sent.strip_prefix(first) else {
        return false;
    };
    let (last, middle) = rest
        .split_last()
        .expect("a marker means two parts at least");
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.ends_with(last)
}

/// How alike two requests are, for naming the closest entry of a miss.
fn similarity(recorded: &HttpRequest, sent: &HttpRequest) -> u32 {
    let mut score = 0;
    if recorded.method == sent.method {
        score += 64;
    }
    if text_matches(&recorded.path, &sent.path) {
        score += 32;
    } else {
        let bare = |path: &str| path.split('?').next().unwrap_or_default().to_owned();
        let common = bare(&recorded.path)
            .chars()
            .zip(bare(&sent.path).chars())
            .take_while(|(a, b)| a == b)
            .count();
        score += u32::try_from(common.min(31)).unwrap_or(0);
    }
    for (name, value) in &sent.query {
        if recorded.query.iter().any(|(n, v)| n == name && v == value) {
            score += 2;
        } else if recorded.query.iter().any(|(n, _)| n == name) {
            score += 1;
        }
    }
    if body_matches(recorded, sent) {
        score += 4;
    }
    score
}

/// What differs between a recorded and a sent request, in words.
fn differences(recorded: &HttpRequest, sent: &HttpRequest, used: bool) -> Vec<String> {
    let mut found = Vec::new();
    if recorded.method != sent.method {
        found.push(format!(
            "method: cassette {}, sent {}",
            recorded.method, sent.method
        ));
    }
    if !text_matches(&recorded.path, &sent.path) {
        found.push(format!(
            "path: cassette `{}`, sent `{}`",
            recorded.path, sent.path
        ));
    }
    let query_matches = recorded.query.len() == sent.query.len()
        && recorded
            .query
            .iter()
            .zip(&sent.query)
            .all(|((rn, rv), (sn, sv))| rn == sn && text_matches(rv, sv));
    if !query_matches {
        found.push(format!(
            "query: cassette `{}`, sent `{}`",
            query_text(&recorded.query),
            query_text(&sent.query)
        ));
    }
    if !body_matches(recorded, sent) {
        let show = |request: &HttpRequest| {
            request
                .body
                .as_ref()
                .and_then(|body| serde_json::to_string(body).ok())
                .map(|text| shorten(&text, 200))
                .unwrap_or_else(|| "none".to_owned())
        };
        found.push(format!(
            "body: cassette {}, sent {}",
            show(recorded),
            show(sent)
        ));
    }
    if found.is_empty() && used {
        found.push("nothing, but it was already used (the connector sent it once more)".into());
    } else if found.is_empty() {
        found.push("nothing (strict order: an earlier entry is still unused)".into());
    }
    found
}

fn query_text(query: &[(String, String)]) -> String {
    query
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::Interaction;
    use serde_json::json;

    fn interaction(request: HttpRequest, response: HttpResponse) -> Interaction {
        Interaction::new(request, Ok(response))
    }

    fn cassette() -> Cassette {
        let mut cassette = Cassette::new("unit");
        cassette.interactions = vec![
            interaction(
                HttpRequest::get("/jobs/1"),
                HttpResponse::json(200, &json!({"state": "processing"})),
            ),
            interaction(
                HttpRequest::get("/jobs/1"),
                HttpResponse::json(200, &json!({"state": "completed"})),
            ),
            interaction(
                HttpRequest::post("/things")
                    .json(&json!({"name": "a", "secret": SCRUBBED}))
                    .expect("encodes"),
                HttpResponse::json(201, &json!({"id": "t1"})),
            ),
            interaction(
                HttpRequest::get("/things").query("limit", 50),
                HttpResponse::json(200, &json!({"things": []})),
            ),
        ];
        cassette
    }

    #[test]
    fn repeated_requests_get_their_recorded_answers_in_turn() {
        let host = ReplayHost::new(cassette());
        let first = host.send(HttpRequest::get("/jobs/1")).expect("recorded");
        let second = host.send(HttpRequest::get("/jobs/1")).expect("recorded");
        assert!(first.body.contains("processing"));
        assert!(second.body.contains("completed"));
        let third = host
            .send(HttpRequest::get("/jobs/1"))
            .expect_err("only two answers were recorded");
        assert!(third.to_string().contains("already used"), "{third}");
    }

    #[test]
    fn json_bodies_match_as_json_and_scrubbed_values_match_anything() {
        let host = ReplayHost::new(cassette());
        let request = HttpRequest::post("/things")
            .json(&json!({"secret": "whatever it was", "name": "a"}))
            .expect("encodes");
        assert_eq!(host.send(request).expect("matches").status, 201);
    }

    #[test]
    fn a_miss_names_the_request_and_the_closest_entry() {
        let host = ReplayHost::new(cassette());
        let error = host
            .send(HttpRequest::get("/things").query("limit", 500))
            .expect_err("not recorded");
        let ConnectorError::Denied { message } = &error else {
            panic!("a miss is Denied, got {error:?}");
        };
        assert!(message.contains("`GET /things?limit=500`"), "{message}");
        assert!(message.contains("cassette `unit`"), "{message}");
        assert!(message.contains("#3 `GET /things?limit=50`"), "{message}");
        assert!(
            message.contains("query: cassette `limit=50`, sent `limit=500`"),
            "{message}"
        );
        assert_eq!(host.misses().len(), 1);
    }

    #[test]
    fn unused_entries_and_misses_fail_the_final_check() {
        let host = ReplayHost::new(cassette());
        host.send(HttpRequest::get("/jobs/1")).expect("recorded");
        let _ = host.send(HttpRequest::delete("/things/t1"));
        let unused = host.unused();
        assert_eq!(unused.len(), 3, "{unused:?}");
        assert!(unused[0].starts_with("#1 GET /jobs/1"), "{unused:?}");
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            host.assert_all_used();
        }))
        .expect_err("unused entries fail");
        let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            text.contains("unmatched request: replay: `DELETE /things/t1`"),
            "{text}"
        );
        assert!(
            text.contains("never used: #3 GET /things?limit=50"),
            "{text}"
        );
    }

    #[test]
    fn a_fully_used_cassette_passes_the_final_check() {
        let host = ReplayHost::new(cassette()).strict_order();
        host.send(HttpRequest::get("/jobs/1")).expect("recorded");
        host.send(HttpRequest::get("/jobs/1")).expect("recorded");
        host.send(
            HttpRequest::post("/things")
                .json(&json!({"name": "a", "secret": "s"}))
                .expect("encodes"),
        )
        .expect("recorded");
        host.send(HttpRequest::get("/things").query("limit", 50))
            .expect("recorded");
        host.assert_all_used();
    }

    #[test]
    fn strict_order_refuses_a_request_out_of_turn() {
        let host = ReplayHost::new(cassette()).strict_order();
        let error = host
            .send(HttpRequest::get("/things").query("limit", 50))
            .expect_err("the jobs come first");
        assert!(error.to_string().contains("not in cassette"), "{error}");
    }

    #[test]
    fn wildcards_in_text_match_any_run() {
        assert!(text_matches("/a?token=[scrubbed]&b=1", "/a?token=xyz&b=1"));
        assert!(!text_matches("/a?token=[scrubbed]&b=1", "/a?token=xyz&b=2"));
        assert!(text_matches("[scrubbed]", "anything"));
        assert!(!text_matches("/a", "/b"));
    }
}
