//! The runner as the workflow engine sees it: the engine's traits implemented over a [`Session`]
//! and its state store.
//!
//! - [`SessionCatalog`]: manifests from the registry, connection problems from the store.
//! - [`SessionSteps`]: method calls through the session, with poll-trigger cursors kept between runs.
//! - [`StoreJournal`]: the run journal in the state store, so `--resume` skips completed steps.
//! - [`FirstRequestProbe`]: the first request a call would make, for `--dry-run`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::registry::Registry;
use crate::session::Session;
use crate::store::call_claim::{INTENT_PREFIX, intent_is_pending};
use crate::store::{self, LeaseHolder, RunId, RunStore, StoreError, local_host_id};
use plugboard_core::{
    ConnectorError, Host, HttpRequest, HttpResponse, Invocation, LogLevel, Manifest,
};
use plugboard_workflow::{
    CallClaim, Catalog, Journal, JournalError, PlanProbe, StepRunner, claim_in_one_process,
};
use serde_json::Value;
use tokio::runtime::Handle;

/// Connectors from a registry; connections checked against a state store.
pub struct SessionCatalog<'a> {
    registry: &'a Registry,
    session: Option<&'a Session>,
    unchecked_connector: Option<&'a str>,
}

impl<'a> SessionCatalog<'a> {
    /// Checks connections through `session` (it resolves their settings as a run would); with
    /// `None`, connections are not checked.
    pub fn new(registry: &'a Registry, session: Option<&'a Session>) -> Self {
        Self {
            registry,
            session,
            unchecked_connector: None,
        }
    }

    /// Leaves the connections of one connector unchecked: they are made right before the run
    /// (a `--sandbox` run connects them to the sandbox).
    #[must_use]
    pub fn without_checking(mut self, connector_id: &'a str) -> Self {
        self.unchecked_connector = Some(connector_id);
        self
    }
}

impl Catalog for SessionCatalog<'_> {
    fn manifest(&self, connector_id: &str) -> Option<&Manifest> {
        self.registry.get(connector_id).map(|c| c.manifest())
    }

    fn connection_problems(&self, connection: &str, connector_id: &str) -> Vec<String> {
        let Some(session) = self.session else {
            return Vec::new();
        };
        if self.unchecked_connector == Some(connector_id) {
            return Vec::new();
        }
        match session.prepare(connection) {
            Ok(prepared) if prepared.connector.manifest().id != connector_id => vec![format!(
                "connection `{connection}` belongs to connector `{}`, not `{connector_id}`",
                prepared.connector.manifest().id
            )],
            Ok(_) => Vec::new(),
            Err(error) => vec![error.to_string()],
        }
    }
}

/// Calls methods through a session. Poll triggers (e.g. `contacts.poll_updated`) called without
/// a `cursor` get the one their previous successful run returned. A new cursor is journaled with
/// the run as soon as the trigger returns it, and saved as the trigger's cursor only when the
/// whole run succeeds ([`SessionSteps::commit_cursors`]), resumed or not: a failed run is polled
/// again from the same point, and a resumed run (which reuses the trigger's journaled output
/// instead of calling it again) still moves the cursor on, so no change is lost or redone.
pub struct SessionSteps<'a> {
    session: &'a Session,
    workflow: String,
    run: RunId,
}

/// Journal keys of the cursors a run's poll triggers returned; step ids cannot start with `#`,
/// so these never collide with step entries.
const CURSOR_ENTRY: &str = "#cursor ";

impl<'a> SessionSteps<'a> {
    /// Steps of run `run` of the workflow identified by `workflow` (its name), which scopes
    /// trigger cursors.
    pub fn new(session: &'a Session, workflow: &str, run: RunId) -> Self {
        Self {
            session,
            workflow: workflow.to_owned(),
            run,
        }
    }

    /// Saves the cursors the run's poll triggers returned (in this attempt or an earlier one of
    /// the same run); call it once the run succeeded.
    pub fn commit_cursors(&self) -> Result<usize, StoreError> {
        let store = self.session.store();
        self.session.block_on(async {
            let mut saved = 0;
            for (entry, cursor) in store.completed_steps(self.run).await? {
                if let Some(key) = entry.strip_prefix(CURSOR_ENTRY) {
                    store.set_cursor(key, &cursor).await?;
                    saved += 1;
                }
            }
            Ok(saved)
        })
    }

    /// The store key of a trigger's cursor: one per workflow, connection, method and input.
    fn cursor_key(&self, connection: &str, method: &str, input: &Value) -> String {
        format!("trigger/{}/{connection}/{method}/{input}", self.workflow)
    }
}

impl StepRunner for SessionSteps<'_> {
    fn call(
        &self,
        connection: &str,
        method: &str,
        mut input: Value,
        on_record: &mut dyn FnMut(Value) -> Result<(), ConnectorError>,
    ) -> Result<Value, ConnectorError> {
        if self.session.cancellation().is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        // Prepared once per step: to tell a poll trigger and to call it.
        let prepared = self.session.prepare(connection)?;
        // The fields come from the method's declaration, never from guessing by name.
        let poll_cursor = prepared
            .connector
            .manifest()
            .method(method)
            .and_then(|m| m.poll_cursor.clone());
        let cursor_key = match (input.as_object(), &poll_cursor) {
            (Some(fields), Some(cursor))
                if fields.get(&cursor.input).is_none_or(Value::is_null) =>
            {
                Some(self.cursor_key(connection, method, &input))
            }
            _ => None,
        };
        if let Some(key) = &cursor_key
            && let Some(stored) = self
                .session
                .block_on(self.session.store().cursor(key))
                .map_err(|e| ConnectorError::Transport {
                    message: format!("cannot read the trigger's cursor: {e}"),
                })?
            && let Some(fields) = input.as_object_mut()
            && let Some(cursor) = &poll_cursor
        {
            fields.insert(cursor.input.clone(), stored);
        }
        let output = self
            .session
            .call_prepared(prepared, method, input, on_record)?;
        if let Some(key) = cursor_key
            && let Some(cursor) = &poll_cursor
            && let Some(next) = output.get(&cursor.output).filter(|c| !c.is_null())
        {
            let entry = format!("{CURSOR_ENTRY}{key}");
            self.session
                .block_on(self.session.store().record_step(self.run, &entry, next))
                .map_err(|e| ConnectorError::Transport {
                    message: format!("cannot journal the trigger's new cursor: {e}"),
                })?;
        }
        Ok(output)
    }

    fn is_cancelled(&self) -> bool {
        self.session.cancellation().is_cancelled()
    }
}

/// The journal of one run in the state store. Completed entries are read once, when the run
/// (re)starts; each new entry is written as it completes. Intents (calls that must take effect
/// at most once, sent and not yet answered) are entries `#intent <key>`: `true` while pending,
/// or this attempt's lease on the call ([`StoreJournal::claiming_calls`]); `false` once cleared.
///
/// The engine's [`Journal`] is synchronous (it runs on the engine's threads, never on a runtime
/// worker); each write waits for the asynchronous store on `handle`.
pub struct StoreJournal<'a> {
    store: &'a dyn RunStore,
    handle: Handle,
    run: RunId,
    completed: HashMap<String, Value>,
    intents: Mutex<HashSet<String>>,
    /// This attempt, when its calls are claimed with leases.
    claimant: Option<LeaseHolder>,
    /// The calls this attempt claimed that are neither answered nor cleared: sent, or about to
    /// be. Claimed again by this attempt (a step retry after a lost answer whose effect could
    /// not be looked up), such a call's outcome is unknown, though the lease is its own.
    unsettled: Mutex<HashSet<String>>,
    /// The calls whose claim another attempt took over while this one was still sending: no
    /// longer renewed (that would take the call back), and said once.
    lost: Mutex<HashSet<String>>,
}

/// How long an attempt's claim on a call lasts unless it is renewed (a third of it, while the
/// call is in flight): how long a retried piece waits for a call whose worker vanished on
/// another machine before it settles the call. On this machine a dead worker's claim is taken
/// over at once.
pub const CALL_LEASE: Duration = Duration::from_secs(15);

/// The journal entry of a completed run's outputs. Kept with the run so that a caller whose
/// answer was lost (a Temporal worker that died after the run completed, before it reported)
/// can be given them later without running anything again.
const OUTPUTS_ENTRY: &str = "#outputs";

/// Journals a run's outputs; record them before marking the run completed, so a completed run
/// always has them.
pub async fn record_outputs(
    store: &dyn RunStore,
    run: RunId,
    outputs: &Value,
) -> Result<(), StoreError> {
    store.record_step(run, OUTPUTS_ENTRY, outputs).await
}

/// The journal entry of the text of a run's workflow, for the pieces of a run on Temporal that
/// do not carry it (a loop's calls): the text travels once per step in the cluster's history,
/// not once per call.
const WORKFLOW_ENTRY: &str = "#workflow";

/// Keeps the text of run `run`'s workflow with its journal ([`recorded_workflow`]).
pub async fn record_workflow(
    store: &dyn RunStore,
    run: RunId,
    text: &str,
) -> Result<(), StoreError> {
    store
        .record_step(run, WORKFLOW_ENTRY, &Value::String(text.to_owned()))
        .await
}

/// The text of run `run`'s workflow kept by [`record_workflow`], if any.
pub async fn recorded_workflow(
    store: &dyn RunStore,
    run: RunId,
) -> Result<Option<String>, StoreError> {
    Ok(store
        .journal_entry(run, WORKFLOW_ENTRY)
        .await?
        .and_then(|text| text.as_str().map(str::to_owned)))
}

/// What a resume must not change about a run's workflow: SHA-256 (hex) of its `connections` and
/// `steps` as compact JSON. Recorded with the run by whoever starts it (`plugboard run`, the
/// service) and compared by whoever resumes it from a workflow text (`run --resume`, a Temporal
/// worker), whatever file or text the workflow comes from.
pub fn workflow_digest(workflow: &plugboard_workflow::ValidWorkflow) -> String {
    use sha2::{Digest as _, Sha256};
    let model = workflow.workflow();
    let content = serde_json::json!({"connections": model.connections, "steps": model.steps});
    Sha256::digest(content.to_string().as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The outputs a completed run journaled ([`record_outputs`]); `None` for a run that has not
/// completed, or that completed before outputs were journaled.
pub async fn recorded_outputs(
    store: &dyn RunStore,
    run: RunId,
) -> Result<Option<Value>, StoreError> {
    store.journal_entry(run, OUTPUTS_ENTRY).await
}

impl<'a> StoreJournal<'a> {
    /// A journal that knows `completed` and the pending `intents`, claiming calls as one process.
    fn with(
        store: &'a dyn RunStore,
        handle: Handle,
        run: RunId,
        completed: HashMap<String, Value>,
        intents: HashSet<String>,
    ) -> Self {
        Self {
            store,
            handle,
            run,
            completed,
            intents: Mutex::new(intents),
            claimant: None,
            unsettled: Mutex::default(),
            lost: Mutex::default(),
        }
    }

    /// The journal of `run`, with what earlier attempts completed and left pending; the store
    /// is waited for on `handle`'s runtime. Call it (and the journal) from a blocking thread.
    pub fn open(store: &'a dyn RunStore, handle: Handle, run: RunId) -> Result<Self, StoreError> {
        let entries = handle.block_on(store.completed_steps(run))?;
        let intents: HashSet<String> = unknown_calls(&entries).into_iter().collect();
        let completed: HashMap<String, Value> = entries
            .into_iter()
            .filter(|(key, _)| is_step_entry(key))
            .collect();
        Ok(Self::with(store, handle, run, completed, intents))
    }

    /// The journal of `run` as far as entries `keys` go (and their intents): what a piece of a
    /// run reads (the steps before it and its own call), where [`StoreJournal::open`] reads a
    /// 200,000-call run's whole journal. An entry it was not asked for reads as not done, so
    /// `keys` must name every entry the piece looks up.
    pub fn open_keys(
        store: &'a dyn RunStore,
        handle: Handle,
        run: RunId,
        keys: impl IntoIterator<Item = String>,
    ) -> Result<Self, StoreError> {
        let mut completed = HashMap::new();
        let mut intents = HashSet::new();
        handle.block_on(async {
            for key in keys {
                if let Some(output) = store.journal_entry(run, &key).await? {
                    completed.insert(key, output);
                } else if store
                    .journal_entry(run, &format!("{INTENT_PREFIX}{key}"))
                    .await?
                    .is_some_and(|intent| intent_is_pending(&intent))
                {
                    intents.insert(key);
                }
            }
            Ok::<_, StoreError>(())
        })?;
        Ok(Self::with(store, handle, run, completed, intents))
    }

    /// Claims each call that must take effect at most once with a lease held by this attempt
    /// while the call is in flight ([`RunStore::claim_call`]): for the pieces of a run on
    /// Temporal, two attempts of which may run at once (a worker cut off from the cluster, not
    /// from the store, and the cluster's retry elsewhere). The other attempt waits for the call's
    /// output instead of sending it again.
    #[must_use]
    pub fn claiming_calls(mut self) -> Self {
        static ATTEMPTS: AtomicU64 = AtomicU64::new(0);
        let started = crate::clock::system_now_ms();
        let n = ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}/{}/{started}/{n}", local_host_id(), std::process::id());
        self.claimant = Some(LeaseHolder::this_process(id));
        self
    }

    /// How many entries earlier attempts completed.
    pub fn resumed_entries(&self) -> usize {
        self.completed.len()
    }

    /// The calls earlier attempts sent without learning whether they took effect, sorted.
    pub fn pending_intents(&self) -> Vec<String> {
        let mut pending: Vec<String> = self.intents().iter().cloned().collect();
        pending.sort();
        pending
    }

    fn intents(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.intents.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn unsettled(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.unsettled.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lost(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lease_ms() -> i64 {
        i64::try_from(CALL_LEASE.as_millis()).unwrap_or(i64::MAX)
    }

    fn write(&self, key: &str, value: &Value) -> Result<(), JournalError> {
        self.handle
            .block_on(self.store.record_step(self.run, key, value))
            .map_err(|e| JournalError {
                message: format!("cannot journal `{key}`: {e}"),
            })
    }
}

impl Journal for StoreJournal<'_> {
    fn completed(&self, key: &str) -> Option<Value> {
        self.completed.get(key).cloned()
    }

    fn record(&self, key: &str, output: &Value) -> Result<(), JournalError> {
        self.write(key, output)?;
        // The output supersedes the intent (see `open`); the stored entry can stay.
        self.intents().remove(key);
        self.unsettled().remove(key);
        Ok(())
    }

    fn record_intent(&self, key: &str) -> Result<(), JournalError> {
        self.write(&format!("{INTENT_PREFIX}{key}"), &Value::Bool(true))?;
        self.intents().insert(key.to_owned());
        Ok(())
    }

    fn intent_pending(&self, key: &str) -> bool {
        self.intents().contains(key)
    }

    fn clear_intent(&self, key: &str) -> Result<(), JournalError> {
        if let Some(claimant) = &self.claimant {
            // Only this attempt's own lease: another attempt may hold the call since ours lapsed.
            self.handle
                .block_on(self.store.release_call(self.run, key, claimant))
                .map_err(|e| JournalError::new(format!("cannot clear call `{key}`: {e}")))?;
            self.unsettled().remove(key);
        } else if self.intents().contains(key) {
            self.write(&format!("{INTENT_PREFIX}{key}"), &Value::Bool(false))?;
        }
        self.intents().remove(key);
        Ok(())
    }

    fn claim_call(&self, key: &str) -> Result<CallClaim, JournalError> {
        let Some(claimant) = &self.claimant else {
            return claim_in_one_process(self, key);
        };
        let claim = self
            .handle
            .block_on(
                self.store
                    .claim_call(self.run, key, claimant, Self::lease_ms()),
            )
            .map_err(|e| JournalError::new(format!("cannot claim call `{key}`: {e}")))?;
        Ok(match claim {
            store::CallClaim::Done(output) => CallClaim::Done(output),
            store::CallClaim::Taken { unknown } => {
                self.intents().insert(key.to_owned());
                self.lost().remove(key);
                let sent_before = !self.unsettled().insert(key.to_owned());
                CallClaim::Taken {
                    unknown: unknown || sent_before,
                }
            }
            store::CallClaim::Held { .. } => CallClaim::Held,
        })
    }

    fn claim_renewal(&self) -> Option<Duration> {
        self.claimant.as_ref().map(|_| CALL_LEASE / 3)
    }

    fn hold_call(&self, key: &str) -> Result<(), JournalError> {
        let Some(claimant) = &self.claimant else {
            return Ok(());
        };
        if self.lost().contains(key) {
            return Ok(());
        }
        // Renews this attempt's own lease; another's (taken after ours lapsed) is left be.
        let renewed =
            self.handle.block_on(
                self.store
                    .claim_call(self.run, key, claimant, Self::lease_ms()),
            );
        // Said here, where the run is known: the engine only tries again at its next tick, and a
        // lease outlives three; one that lapses lets another attempt take the call over.
        match renewed {
            Ok(store::CallClaim::Held { .. }) => {
                if self.lost().insert(key.to_owned()) {
                    tracing::warn!(run = %self.run, call = key,
                        "another attempt took over a call this attempt is still sending: its lease lapsed");
                }
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::warn!(run = %self.run, call = key, %error,
                    "cannot renew the claim on a call in flight");
                Err(JournalError::new(format!(
                    "cannot hold call `{key}`: {error}"
                )))
            }
        }
    }
}

/// Whether journal entry `key` is a step's (or a call's) output, not an intent, a trigger
/// cursor, the run's outputs or its workflow text.
fn is_step_entry(key: &str) -> bool {
    !key.starts_with(INTENT_PREFIX)
        && !key.starts_with(CURSOR_ENTRY)
        && key != OUTPUTS_ENTRY
        && key != WORKFLOW_ENTRY
}

/// The calls whose outcome is unknown (sent, never answered, not settled) among a run's journal
/// entries ([`RunStore::completed_steps`]), sorted: what a resume must settle first, and the
/// intents [`StoreJournal::open`] starts from; for callers that hold the entries already
/// (asynchronous code, which cannot open a journal).
pub fn unknown_calls(entries: &[(String, Value)]) -> Vec<String> {
    let mut intents = HashSet::new();
    let mut completed = HashSet::new();
    for (key, value) in entries {
        if let Some(call) = key.strip_prefix(INTENT_PREFIX) {
            if intent_is_pending(value) {
                intents.insert(call);
            } else {
                intents.remove(call);
            }
        } else if is_step_entry(key) {
            completed.insert(key.as_str());
        }
    }
    let mut pending: Vec<String> = intents
        .into_iter()
        .filter(|call| !completed.contains(call))
        .map(str::to_owned)
        .collect();
    pending.sort();
    pending
}

/// Finds the first request a call would make by running the connector against a host that
/// records it and answers nothing; nothing is sent.
pub struct FirstRequestProbe<'a> {
    session: &'a Session,
    unconnected: HashMap<String, String>,
}

impl<'a> FirstRequestProbe<'a> {
    /// A probe over the session's connections.
    pub fn new(session: &'a Session) -> Self {
        Self {
            session,
            unconnected: HashMap::new(),
        }
    }

    /// Connections (name → connector id) that are not installed yet, e.g. those a `--sandbox`
    /// run makes when it starts: their first requests are found with the connector's own
    /// defaults, so a dry run needs no sandbox and no authorization.
    #[must_use]
    pub fn with_unconnected(
        mut self,
        connections: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        self.unconnected.extend(connections);
        self
    }
}

impl PlanProbe for FirstRequestProbe<'_> {
    fn first_request(&self, connection: &str, method: &str, input: &Value) -> Option<HttpRequest> {
        let (connector, settings) = match self.unconnected.get(connection) {
            Some(connector_id) => (
                self.session.registry().get(connector_id)?.connector.clone(),
                serde_json::Map::new(),
            ),
            None => {
                let prepared = self.session.prepare(connection).ok()?;
                (prepared.connector.connector, prepared.visible_settings)
            }
        };
        let host = RecordingHost::default();
        let invocation = Invocation {
            method: method.to_owned(),
            input: input.clone(),
            settings,
        };
        // The call ends at its first request, which the host refuses; the error is expected.
        let _ = connector.invoke(&invocation, &host);
        host.first.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps the first request and stops the call there.
#[derive(Default)]
struct RecordingHost {
    first: Mutex<Option<HttpRequest>>,
}

impl Host for RecordingHost {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(request);
        Err(ConnectorError::Cancelled)
    }

    fn emit(&self, _record: Value) -> Result<(), ConnectorError> {
        Err(ConnectorError::Cancelled)
    }

    fn log(&self, _level: LogLevel, _message: &str) {}

    fn is_cancelled(&self) -> bool {
        false
    }

    fn sleep(&self, _duration: std::time::Duration) -> Result<(), ConnectorError> {
        Err(ConnectorError::Cancelled)
    }
}
