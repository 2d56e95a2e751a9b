//! The state store's conformance suite: what every backend must do, written against the role
//! traits only, so one suite checks SQLite today and a server backend tomorrow.
//!
//! A backend's test crate declares this file as its `suite` module at the crate root (from
//! another crate: `#[path = "…/plugboard-runner/tests/store_conformance/suite/mod.rs"] #[macro_use]
//! mod suite;`), implements [`Backend`] and instantiates every test with
//! `store_conformance_tests!(MyBackend);`. Each test gets a fresh database and opens as many
//! handles on it as it needs; two handles stand for two processes sharing it.
//!
//! Times are explicit (`now_ms`): the limiter and the lease decide by the time they are given,
//! so the tests move time by hand. Processes are judged dead only on this machine (a pid of a
//! process the test spawned and reaped).
#![allow(dead_code)]

mod calls;
mod connections;
mod leases;
mod limits;
mod runs;
mod schema;

pub use calls::*;
pub use connections::*;
pub use leases::*;
pub use limits::*;
pub use runs::*;
pub use schema::*;

use std::process::{Child, Command};
use std::sync::Arc;

use plugboard_runner::store::{Admission, LeaseHolder, LimitCharge, local_host_id};
use plugboard_runner::{StateStore, StoreError, TokenSet};
use secrecy::SecretString;
use serde_json::{Map, Value};

/// A backend under test.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// One test's database (and whatever must live as long as it, e.g. a temporary folder).
    type Database: Send + Sync;
    /// A fresh, empty database.
    async fn database(&self) -> Self::Database;
    /// A new handle on `database`, as another process would open it (its own connection).
    async fn open(&self, database: &Self::Database) -> Result<Arc<dyn StateStore>, StoreError>;
    /// Makes `database` look written by a newer plugboard (its schema version one past ours).
    async fn pretend_newer_schema(&self, database: &Self::Database);
}

/// Instantiates every test of the suite for a backend (an expression implementing [`Backend`]);
/// the suite must be this crate's `suite` module.
#[macro_export]
macro_rules! store_conformance_tests {
    ($backend:expr) => {
        $crate::store_conformance_tests!(
            $backend;
            connections_and_partner_settings_round_trip,
            tokens_are_versioned_and_deleted_with_their_connection,
            the_refresh_lease_admits_one_holder_and_commits_atomically,
            a_dead_holders_lease_is_taken_over_at_once,
            a_live_holders_lease_is_kept_until_it_lapses,
            a_dead_pid_on_another_machine_is_not_a_dead_holder,
            a_zombie_holder_counts_as_dead,
            waiters_racing_for_a_dead_holders_lease_take_it_over_exactly_once,
            a_commit_is_refused_to_a_fenced_writer,
            a_refused_grant_is_marked_until_new_tokens_arrive,
            rolling_limits_admit_four_per_second_shared_by_two_handles,
            slow_responses_push_the_window_back,
            a_daily_quota_stops_at_its_limit_and_resets_at_utc_midnight,
            a_used_up_quota_charges_no_other_budget,
            concurrent_admission_from_many_tasks_never_exceeds_the_rate,
            runs_and_their_journal_round_trip,
            a_runs_events_are_read_elsewhere_in_order_and_in_pages,
            a_run_is_claimed_for_a_resume_unless_completed,
            a_queued_run_is_claimed_and_its_outputs_kept,
            a_cancellation_is_asked_for_across_processes,
            the_first_end_of_a_run_is_its_end,
            intents_survive_a_restart_until_settled,
            a_call_is_claimed_by_one_attempt_at_a_time,
            journals_of_overlapping_attempts_claim_calls_through_the_store,
            only_the_holder_of_a_call_releases_it,
            trigger_cursors_round_trip,
            a_database_of_a_newer_schema_is_refused,
        );
    };
    ($backend:expr; $($test:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                $crate::suite::$test(&$backend).await;
            }
        )+
    };
}

// ----- helpers -----

pub fn tokens(n: u32) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(format!("access-SECRET-{n}")),
        refresh_token: Some(SecretString::from(format!("refresh-SECRET-{n}"))),
        expires_at: Some(1_900_000_000),
        scope: Some("read".to_owned()),
    }
}

fn settings(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

/// The pid of a process that existed and is now gone (exited and reaped).
pub fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("spawn `true`");
    let pid = child.id();
    child.wait().expect("reap `true`");
    pid
}

/// A live process, killed and reaped when dropped (also when the test panics).
pub struct Sleeper(pub Child);

impl Sleeper {
    pub fn start() -> Self {
        Self(
            Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn `sleep 30`"),
        )
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A holder on this machine with process `pid`.
pub fn local_holder(id: &str, pid: u32) -> LeaseHolder {
    LeaseHolder {
        id: id.to_owned(),
        pid,
        host: local_host_id().to_owned(),
    }
}

const LEASE_MS: i64 = 90_000;

/// An arbitrary moment (ms since the epoch) far from a UTC midnight.
const T0_MS: i64 = 1_000_000_000_000;

fn four_per_second(key: &str) -> LimitCharge {
    LimitCharge::Rolling {
        key: key.to_owned(),
        limit: 4,
        window_us: 1_010_000,
        interval_us: 252_500,
        inflight_cap_us: 61_000_000,
    }
}

fn daily(key: &str, now_ms: i64, limit: u64) -> LimitCharge {
    let start = now_ms.div_euclid(86_400_000) * 86_400_000;
    LimitCharge::Counter {
        key: key.to_owned(),
        window_start_ms: start,
        window_end_ms: start + 86_400_000,
        limit,
    }
}

/// Sends as fast as the limiter allows over `duration_ms` of simulated time, alternating between
/// handles, completing each request `latency_ms` after it is sent; returns the send times (ms
/// from the start).
async fn simulate(stores: &[Arc<dyn StateStore>], duration_ms: i64, latency_ms: i64) -> Vec<i64> {
    let charges = [four_per_second("k")];
    let mut now = T0_MS;
    let mut sent = Vec::new();
    let mut turn = 0;
    while now < T0_MS + duration_ms {
        let store = &stores[turn % stores.len()];
        match store.acquire(&charges, now).await.unwrap() {
            Admission::Granted { tickets } => {
                sent.push(now - T0_MS);
                store.complete(&tickets, now + latency_ms).await.unwrap();
                turn += 1;
            }
            Admission::Wait { wait_us } => now += (wait_us + 999) / 1000,
            Admission::Exhausted { .. } => panic!("no counter here"),
        }
    }
    sent
}

fn system_now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}
