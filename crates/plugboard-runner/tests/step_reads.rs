//! What a workflow step reads from the state store: its connection is resolved once per step
//! (one read of the connection, one of its app's partner settings), not once to tell a poll
//! trigger and again to call it. Counted through a store that wraps SQLite and counts.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Fake, now_secs, quick_config};
use plugboard_runner::store::{
    Admission, CallClaim, CommitOutcome, LeaseHolder, LeaseOutcome, LimitCharge, RunClaim,
    SlotTicket,
};
use plugboard_runner::workflow::{SessionCatalog, SessionSteps, StoreJournal};
use plugboard_runner::{
    ConnectionRecord, ConnectionStore, LimitStore, RunId, RunRecord, RunStatus, RunStore,
    SqliteStore, StoreFuture, TokenSet, TokenStore, VersionedTokens,
};
use serde_json::{Map, Value, json};

/// SQLite, counting the reads that resolve a connection.
#[derive(Debug)]
struct Counting {
    inner: SqliteStore,
    connection_reads: AtomicUsize,
    partner_reads: AtomicUsize,
}

impl Counting {
    fn reads(&self) -> (usize, usize) {
        (
            self.connection_reads.load(Ordering::SeqCst),
            self.partner_reads.load(Ordering::SeqCst),
        )
    }
}

impl ConnectionStore for Counting {
    fn partner_settings<'a>(
        &'a self,
        connector_id: &'a str,
    ) -> StoreFuture<'a, Map<String, Value>> {
        self.partner_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.partner_settings(connector_id)
    }
    fn set_partner_settings<'a>(
        &'a self,
        connector_id: &'a str,
        settings: &'a Map<String, Value>,
    ) -> StoreFuture<'a, ()> {
        self.inner.set_partner_settings(connector_id, settings)
    }
    fn connection<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<ConnectionRecord>> {
        self.connection_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.connection(name)
    }
    fn connections(&self) -> StoreFuture<'_, Vec<ConnectionRecord>> {
        self.inner.connections()
    }
    fn put_connection<'a>(&'a self, connection: &'a ConnectionRecord) -> StoreFuture<'a, ()> {
        self.inner.put_connection(connection)
    }
    fn delete_connection<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        self.inner.delete_connection(name)
    }
}

impl TokenStore for Counting {
    fn tokens<'a>(&'a self, connection: &'a str) -> StoreFuture<'a, Option<VersionedTokens>> {
        self.inner.tokens(connection)
    }
    fn put_tokens<'a>(&'a self, connection: &'a str, tokens: &'a TokenSet) -> StoreFuture<'a, i64> {
        self.inner.put_tokens(connection, tokens)
    }
    fn acquire_refresh_lease<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a LeaseHolder,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreFuture<'a, LeaseOutcome> {
        self.inner
            .acquire_refresh_lease(connection, holder, now_ms, lease_ms)
    }
    fn commit_refresh<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
        expected_version: i64,
        tokens: &'a TokenSet,
    ) -> StoreFuture<'a, CommitOutcome> {
        self.inner
            .commit_refresh(connection, holder, expected_version, tokens)
    }
    fn renew_refresh_lease<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
        expected_version: i64,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreFuture<'a, bool> {
        self.inner
            .renew_refresh_lease(connection, holder, expected_version, now_ms, lease_ms)
    }
    fn mark_needs_reauth<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
        version: i64,
        reason: &'a str,
    ) -> StoreFuture<'a, ()> {
        self.inner
            .mark_needs_reauth(connection, holder, version, reason)
    }
    fn release_refresh_lease<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
    ) -> StoreFuture<'a, ()> {
        self.inner.release_refresh_lease(connection, holder)
    }
}

impl LimitStore for Counting {
    fn acquire<'a>(
        &'a self,
        charges: &'a [LimitCharge],
        now_ms: i64,
    ) -> StoreFuture<'a, Admission> {
        self.inner.acquire(charges, now_ms)
    }
    fn complete<'a>(&'a self, tickets: &'a [SlotTicket], done_ms: i64) -> StoreFuture<'a, ()> {
        self.inner.complete(tickets, done_ms)
    }
    fn exhaust<'a>(
        &'a self,
        key: &'a str,
        window_start_ms: i64,
        limit: u64,
    ) -> StoreFuture<'a, ()> {
        self.inner.exhaust(key, window_start_ms, limit)
    }
}

impl RunStore for Counting {
    fn cursor<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Value>> {
        self.inner.cursor(key)
    }
    fn set_cursor<'a>(&'a self, key: &'a str, value: &'a Value) -> StoreFuture<'a, ()> {
        self.inner.set_cursor(key, value)
    }
    fn create_run<'a>(
        &'a self,
        workflow: &'a str,
        digest: &'a str,
        inputs: &'a Value,
    ) -> StoreFuture<'a, RunId> {
        self.inner.create_run(workflow, digest, inputs)
    }
    fn queue_run<'a>(
        &'a self,
        workflow: &'a str,
        digest: &'a str,
        inputs: &'a Value,
    ) -> StoreFuture<'a, RunId> {
        self.inner.queue_run(workflow, digest, inputs)
    }
    fn set_run_inputs<'a>(&'a self, run: RunId, inputs: &'a Value) -> StoreFuture<'a, ()> {
        self.inner.set_run_inputs(run, inputs)
    }
    fn record_step<'a>(
        &'a self,
        run: RunId,
        key: &'a str,
        output: &'a Value,
    ) -> StoreFuture<'a, ()> {
        self.inner.record_step(run, key, output)
    }
    fn completed_steps(&self, run: RunId) -> StoreFuture<'_, Vec<(String, Value)>> {
        self.inner.completed_steps(run)
    }
    fn journal_entry<'a>(&'a self, run: RunId, key: &'a str) -> StoreFuture<'a, Option<Value>> {
        self.inner.journal_entry(run, key)
    }
    fn claim_call<'a>(
        &'a self,
        run: RunId,
        key: &'a str,
        claimant: &'a LeaseHolder,
        lease_ms: i64,
    ) -> StoreFuture<'a, CallClaim> {
        self.inner.claim_call(run, key, claimant, lease_ms)
    }
    fn release_call<'a>(
        &'a self,
        run: RunId,
        key: &'a str,
        claimant: &'a LeaseHolder,
    ) -> StoreFuture<'a, bool> {
        self.inner.release_call(run, key, claimant)
    }
    fn request_cancel(&self, run: RunId) -> StoreFuture<'_, bool> {
        self.inner.request_cancel(run)
    }
    fn cancels_requested<'a>(&'a self, runs: &'a [RunId]) -> StoreFuture<'a, Vec<RunId>> {
        self.inner.cancels_requested(runs)
    }
    fn claim_run(&self, run: RunId) -> StoreFuture<'_, RunClaim> {
        self.inner.claim_run(run)
    }
    fn finish_run<'a>(
        &'a self,
        run: RunId,
        status: RunStatus,
        error: Option<&'a str>,
    ) -> StoreFuture<'a, ()> {
        self.inner.finish_run(run, status, error)
    }
    fn end_run<'a>(
        &'a self,
        run: RunId,
        status: RunStatus,
        error: Option<&'a str>,
    ) -> StoreFuture<'a, bool> {
        self.inner.end_run(run, status, error)
    }
    fn run(&self, id: RunId) -> StoreFuture<'_, Option<RunRecord>> {
        self.inner.run(id)
    }
    fn runs(&self) -> StoreFuture<'_, Vec<RunRecord>> {
        self.inner.runs()
    }
    fn append_run_event<'a>(&'a self, run: RunId, event: &'a Value) -> StoreFuture<'a, ()> {
        self.inner.append_run_event(run, event)
    }
    fn run_events_after(
        &self,
        run: RunId,
        after: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<(i64, Value)>> {
        self.inner.run_events_after(run, after, limit)
    }
}

#[test]
fn each_step_resolves_its_connection_once() {
    let fake = Fake::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Counting {
        inner: fake.seed(
            &dir.path().join("state.db"),
            "main",
            Some(now_secs() + 3_600),
        ),
        connection_reads: AtomicUsize::new(0),
        partner_reads: AtomicUsize::new(0),
    });
    let session = fake.session(store.clone(), quick_config());
    // Object inputs without a `cursor`: the inputs that made a step ask whether its method is a
    // poll trigger, which resolved the connection a second time.
    let source = json!({
        "name": "reads",
        "connections": {"f": {"connector": "fake", "connection": "main"}},
        "steps": [
            {"id": "one", "call": "f.http.get", "input": {"path": "/one"}},
            {"id": "two", "call": "f.http.get", "input": {"path": "/two"}},
            {"id": "three", "call": "f.http.post", "input": {"path": "/three"}},
            {"id": "each", "for_each": [1, 2, 3, 4], "call": "f.http.get",
             "input": {"path": "/each/{{ item }}"}}
        ]
    })
    .to_string();
    let workflow = plugboard_workflow::validate(
        &source,
        &SessionCatalog::new(session.registry(), Some(&session)),
    )
    .unwrap();
    let run = session
        .block_on(
            session
                .store()
                .create_run("reads.json", "digest", &json!({})),
        )
        .unwrap();
    let journal = StoreJournal::open(store.as_ref(), session.handle().clone(), run).unwrap();
    let steps = SessionSteps::new(&session, "reads", run);
    let before = store.reads();
    let outcome = plugboard_workflow::run(
        &workflow,
        Map::new(),
        &steps,
        &journal,
        &plugboard_workflow::NoObserver,
    )
    .unwrap();
    let (connections, partners) = store.reads();
    let calls = 3 + 4;
    assert_eq!(fake.state.api_requests.lock().unwrap().len(), calls);
    assert_eq!(
        (connections - before.0, partners - before.1),
        (calls, calls),
        "one read of the connection and one of its partner settings per call: {outcome:?}"
    );
}
